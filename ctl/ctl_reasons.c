/* ctl_reasons.c - the table of failure reasons; see ctl_reasons.h. */
#include "ctl_reasons.h"

#include "ctl_msg.h"
#include "ctl_opt.h"
#include "ds_reason.h"

static const char HELP[] =
    "usage: docsyncctl reasons [--markdown]\n"
    "\n"
    "Lists every reason a document can be dead-lettered for, as the stages\n"
    "classify it (common/ds_reason.c): its class, its grace (tries of a\n"
    "permanent reason before the DLQ), what it means and what to do.\n"
    "\n"
    "  --markdown        a Markdown table, as in the README's runbook\n";

/* The class as operators read it; a family is classed by its status. */
static const char *class_text(const ds_reason *r)
{
    if (r->klass == DS_CLASS_NONE)
        return "by status: 408, 425, 429, 5xx transient; other 4xx "
               "permanent";
    return ds_class_name(r->klass);
}

/* Writes s into a Markdown table cell: a '|' would end the cell. */
static void cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void ctl_reasons_markdown(FILE *out)
{
    size_t i;

    fputs("| reason | class | grace | meaning | what to do |\n"
          "|---|---|---|---|---|\n", out);
    for (i = 0; i < ds_reason_count(); i++) {
        const ds_reason *r = ds_reason_at(i);

        fputs("| `", out);
        cell(out, r->name);
        fputs("` | ", out);
        cell(out, class_text(r));
        if (r->grace > 1)
            fprintf(out, " | %d tries | ", r->grace);
        else
            fputs(" | - | ", out);
        cell(out, r->meaning);
        fputs(" | ", out);
        cell(out, r->action);
        fputs(" |\n", out);
    }
}

/* Writes the table for a terminal: a block of three lines per reason. */
static void print_text(FILE *out)
{
    size_t i;

    for (i = 0; i < ds_reason_count(); i++) {
        const ds_reason *r = ds_reason_at(i);

        fprintf(out, "%s  (%s", r->name, class_text(r));
        if (r->grace > 1)
            fprintf(out, "; grace: %d tries", r->grace);
        fprintf(out, ")\n    means: %s\n    do:    %s\n", r->meaning,
                r->action);
    }
}

int ctl_reasons(ctl_conf *conf, int argc, char **argv)
{
    int markdown = 0, i;

    (void)conf;
    if (ctl_opt_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CTL_EXIT_OK;
    }
    for (i = 0; i < argc; i++) {
        if (!ctl_opt_flag(argv, i, "--markdown"))
            return ctl_usage_error("reasons", "unknown argument '%s'",
                                   argv[i]);
        markdown = 1;
    }
    if (markdown)
        ctl_reasons_markdown(stdout);
    else
        print_text(stdout);
    return CTL_EXIT_OK;
}
