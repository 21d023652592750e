/* ctl_opt.c - reading command-line options; see ctl_opt.h. */
#include "ctl_opt.h"

#include <stdio.h>
#include <string.h>

int ctl_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **value, char *why, size_t cap)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        snprintf(why, cap, "%s needs a value", name);
        return -1;
    }
    /* An empty value is a slip (an unset shell variable), never a match. */
    if (**value == '\0') {
        snprintf(why, cap, "%s needs a value that is not empty", name);
        return -1;
    }
    return 1;
}

int ctl_opt_flag(char **argv, int i, const char *name)
{
    return strcmp(argv[i], name) == 0;
}

int ctl_opt_wants_help(int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
