/* ds_mime.c - MIME types from content and names; see ds_mime.h. */
#include "ds_mime.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ds_utf8.h"

#define OCTET_STREAM "application/octet-stream"
#define ZIP "application/zip"
#define DOCX "application/vnd.openxmlformats-officedocument." \
             "wordprocessingml.document"
#define XLSX "application/vnd.openxmlformats-officedocument." \
             "spreadsheetml.sheet"
#define PPTX "application/vnd.openxmlformats-officedocument." \
             "presentationml.presentation"
#define ODF "application/vnd.oasis.opendocument."
#define MSWORD "application/msword"

/* ---- Types by their first bytes ------------------------------------------ */

/* A signature: bytes at an offset, and optionally a second part. */
typedef struct magic {
    size_t off;
    const char *bytes;
    size_t len;
    size_t off2;
    const char *bytes2;
    size_t len2;
    const char *type;
} magic;

static const magic MAGIC[] = {
    {0, "%PDF-", 5, 0, NULL, 0, "application/pdf"},
    {0, "\x89PNG\r\n\x1a\n", 8, 0, NULL, 0, "image/png"},
    {0, "\xff\xd8\xff", 3, 0, NULL, 0, "image/jpeg"},
    {0, "GIF87a", 6, 0, NULL, 0, "image/gif"},
    {0, "GIF89a", 6, 0, NULL, 0, "image/gif"},
    {0, "II*\0", 4, 0, NULL, 0, "image/tiff"},
    {0, "MM\0*", 4, 0, NULL, 0, "image/tiff"},
    {0, "II+\0", 4, 0, NULL, 0, "image/tiff"},    /* BigTIFF */
    {0, "MM\0+", 4, 0, NULL, 0, "image/tiff"},
    {0, "RIFF", 4, 8, "WEBP", 4, "image/webp"},
    {0, "{\\rtf", 5, 0, NULL, 0, "application/rtf"},
};

/* ISO BMFF brands (the ftyp box) of still images. A specific brand wins
 * over a generic one wherever it is listed: an iPhone's HEIC has the
 * generic mif1 among its brands, an AVIF too. */
static const struct brand {
    const char *brand;
    int specific;
    const char *type;
} BRANDS[] = {
    {"heic", 1, "image/heic"}, {"heix", 1, "image/heic"},
    {"heim", 1, "image/heic"}, {"heis", 1, "image/heic"},
    {"hevc", 1, "image/heic-sequence"}, {"hevx", 1, "image/heic-sequence"},
    {"avif", 1, "image/avif"}, {"avis", 1, "image/avif"},
    {"mif1", 0, "image/heif"}, {"mif2", 0, "image/heif"},
    {"msf1", 0, "image/heif-sequence"},
};

/* The content of the stored "mimetype" entry that an ODF (or EPUB) zip
 * starts with names the exact type. */
static const char *const ZIP_MIMETYPES[] = {
    ODF "text", ODF "text-template", ODF "text-master",
    ODF "text-master-template", ODF "text-web", ODF "spreadsheet",
    ODF "spreadsheet-template", ODF "presentation",
    ODF "presentation-template", ODF "graphics", ODF "graphics-template",
    ODF "chart", ODF "chart-template", ODF "image", ODF "image-template",
    ODF "formula", ODF "formula-template", ODF "base",
    "application/epub+zip", NULL,
};

/* ---- Types by extension -------------------------------------------------- */

static const struct ext_type {
    const char *ext;
    const char *type;
} EXTENSIONS[] = {
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"jpe", "image/jpeg"},
    {"jfif", "image/jpeg"},
    {"gif", "image/gif"},
    {"tif", "image/tiff"}, {"tiff", "image/tiff"},
    {"webp", "image/webp"},
    {"heic", "image/heic"}, {"heif", "image/heif"}, {"avif", "image/avif"},
    {"odt", ODF "text"}, {"ott", ODF "text-template"},
    {"odm", ODF "text-master"}, {"oth", ODF "text-web"},
    {"ods", ODF "spreadsheet"}, {"ots", ODF "spreadsheet-template"},
    {"odp", ODF "presentation"}, {"otp", ODF "presentation-template"},
    {"odg", ODF "graphics"}, {"otg", ODF "graphics-template"},
    {"odc", ODF "chart"}, {"odf", ODF "formula"}, {"odi", ODF "image"},
    {"odb", ODF "base"},
    {"docx", DOCX},
    {"dotx", "application/vnd.openxmlformats-officedocument."
             "wordprocessingml.template"},
    {"docm", "application/vnd.ms-word.document.macroEnabled.12"},
    {"dotm", "application/vnd.ms-word.template.macroEnabled.12"},
    {"xlsx", XLSX},
    {"xltx", "application/vnd.openxmlformats-officedocument."
             "spreadsheetml.template"},
    {"xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"},
    {"xltm", "application/vnd.ms-excel.template.macroEnabled.12"},
    {"xlsb", "application/vnd.ms-excel.sheet.binary.macroEnabled.12"},
    {"pptx", PPTX},
    {"ppsx", "application/vnd.openxmlformats-officedocument."
             "presentationml.slideshow"},
    {"potx", "application/vnd.openxmlformats-officedocument."
             "presentationml.template"},
    {"pptm", "application/vnd.ms-powerpoint.presentation.macroEnabled.12"},
    {"ppsm", "application/vnd.ms-powerpoint.slideshow.macroEnabled.12"},
    {"epub", "application/epub+zip"},
    {"doc", MSWORD}, {"dot", MSWORD},
    {"xls", "application/vnd.ms-excel"}, {"xlt", "application/vnd.ms-excel"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pps", "application/vnd.ms-powerpoint"},
    {"pot", "application/vnd.ms-powerpoint"},
    {"msg", "application/vnd.ms-outlook"},
    {"rtf", "application/rtf"},
    {"txt", "text/plain"}, {"text", "text/plain"}, {"csv", "text/csv"},
    {"zip", ZIP},
};

/* ---- Which declared types mean the same as a detected one ---------------- */

/* Declared types that carry no information about the content. */
static const char *const GENERIC[] = {
    "application/octet-stream", "binary/octet-stream", "application/unknown",
    "application/x-unknown", "unknown/unknown", "application/binary",
    "application/force-download", "application/x-download",
    "application/download", NULL,
};

/* A pattern is a type, "prefix*" or "*suffix", compared without case. */
static const char *const PDF_SAME[] = {
    "application/x-pdf", "application/acrobat", "application/vnd.pdf",
    "text/pdf", "text/x-pdf", NULL,
};
static const char *const PNG_SAME[] = {
    "image/x-png", "image/apng", "image/vnd.mozilla.apng", NULL,
};
static const char *const JPEG_SAME[] = {"image/jpg", "image/pjpeg", NULL};
static const char *const TIFF_SAME[] = {
    "image/tif", "image/x-tiff", "image/x-tif", "image/tiff-fx",
    "image/x-adobe-dng", "image/dng", "image/x-canon-cr2",
    "image/x-nikon-nef", "image/x-sony-arw", NULL,
};
static const char *const HEIF_SAME[] = {
    "image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence",
    NULL,
};
static const char *const ZIP_ALIASES[] = {
    ZIP, "application/x-zip", "application/x-zip-compressed",
    "multipart/x-zip", NULL,
};
/* A zip whose first entries do not tell may be any zip-based type. */
static const char *const ZIP_SAME[] = {
    "application/x-zip", "application/x-zip-compressed", "multipart/x-zip",
    "application/vnd.openxmlformats-officedocument.*",
    "application/vnd.ms-word.*", "application/vnd.ms-excel.*",
    "application/vnd.ms-powerpoint.*", ODF "*", "*+zip",
    "application/java-archive", "application/vnd.ms-xpsdocument",
    "application/oxps", "application/vnd.apple.*",
    "application/vnd.google-earth.kmz", NULL,
};
static const char *const WORD_SAME[] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.*",
    "application/vnd.ms-word.*", NULL,
};
static const char *const EXCEL_SAME[] = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.*",
    "application/vnd.ms-excel.*", NULL,
};
static const char *const POWERPOINT_SAME[] = {
    "application/vnd.openxmlformats-officedocument.presentationml.*",
    "application/vnd.ms-powerpoint.*", NULL,
};
/* One OLE2 header fits Word, Excel, PowerPoint, Outlook, Visio ... */
static const char *const OLE2_SAME[] = {
    MSWORD, "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.ms-outlook", "application/vnd.ms-project",
    "application/vnd.visio", "application/x-msi", "application/x-ole-storage",
    "application/x-msword", "application/x-msexcel",
    "application/x-mspowerpoint", NULL,
};
static const char *const RTF_SAME[] = {
    "text/rtf", "application/x-rtf", "text/richtext", NULL,
};

/* What a detected type (or a pattern of them) is consistent with. */
static const struct family {
    const char *type;
    int zip_based;            /* also consistent with a declared zip */
    int weak;                 /* text: evidence of little */
    const char *const *same;
} FAMILIES[] = {
    {"application/pdf", 0, 0, PDF_SAME},
    {"image/png", 0, 0, PNG_SAME},
    {"image/jpeg", 0, 0, JPEG_SAME},
    {"image/gif", 0, 0, NULL},
    {"image/tiff", 0, 0, TIFF_SAME},
    {"image/webp", 0, 0, NULL},
    {"image/heic", 0, 0, HEIF_SAME},
    {"image/heif", 0, 0, HEIF_SAME},
    {"image/heic-sequence", 0, 0, HEIF_SAME},
    {"image/heif-sequence", 0, 0, HEIF_SAME},
    {"image/avif", 0, 0, NULL},
    {ZIP, 0, 0, ZIP_SAME},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.*", 1,
     0, WORD_SAME},
    {"application/vnd.ms-word.*", 1, 0, WORD_SAME},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.*", 1, 0,
     EXCEL_SAME},
    {"application/vnd.ms-excel.*", 1, 0, EXCEL_SAME},
    {"application/vnd.openxmlformats-officedocument.presentationml.*", 1,
     0, POWERPOINT_SAME},
    {"application/vnd.ms-powerpoint.*", 1, 0, POWERPOINT_SAME},
    {ODF "*", 1, 0, NULL},
    {"application/epub+zip", 1, 0, NULL},
    {MSWORD, 0, 0, OLE2_SAME},
    {"application/vnd.ms-excel", 0, 0, OLE2_SAME},
    {"application/vnd.ms-powerpoint", 0, 0, OLE2_SAME},
    {"application/vnd.ms-outlook", 0, 0, OLE2_SAME},
    {"application/rtf", 0, 0, RTF_SAME},
    {"text/plain", 0, 1, NULL},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Matching ------------------------------------------------------------ */

/* Nonzero when text (an essence, lower case) matches the pattern. */
static int match(const char *pattern, const char *text)
{
    size_t p = strlen(pattern), t = strlen(text);

    if (p > 0 && pattern[p - 1] == '*')
        return strncasecmp(pattern, text, p - 1) == 0;
    if (p > 0 && pattern[0] == '*')
        return t >= p - 1 && strcasecmp(pattern + 1, text + t - (p - 1)) == 0;
    return strcasecmp(pattern, text) == 0;
}

static int match_any(const char *const *patterns, const char *text)
{
    for (; patterns != NULL && *patterns != NULL; patterns++)
        if (match(*patterns, text))
            return 1;
    return 0;
}

/* A character of a type or subtype name (RFC 6838, section 4.2). */
static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$&-^_.+", c) != NULL);
}

/* The essence of a declared type, lower case, into out: "Image/JPEG ;
 * q=1" gives "image/jpeg". Returns 0, or -1 when it is not of the form
 * type/subtype or does not fit. */
static int essence(const char *type, char *out, size_t cap)
{
    size_t n = 0, slash = 0;
    int seen = 0;

    while (*type == ' ' || *type == '\t')
        type++;
    for (; *type != '\0' && *type != ';' && *type != ' ' && *type != '\t';
         type++) {
        char c = (*type >= 'A' && *type <= 'Z') ? (char)(*type + 32) : *type;

        if (n + 1 >= cap || (c != '/' && !name_char(c)) ||
            (c == '/' && seen))
            return -1;
        if (c == '/') {
            seen = 1;
            slash = n;
        }
        out[n++] = c;
    }
    while (*type == ' ' || *type == '\t')
        type++;
    out[n] = '\0';
    /* Only parameters may follow the essence. */
    if (*type != '\0' && *type != ';')
        return -1;
    return seen && slash > 0 && slash + 1 < n ? 0 : -1;
}

static const struct family *family_of(const char *type)
{
    size_t i;

    for (i = 0; type != NULL && i < COUNT(FAMILIES); i++)
        if (match(FAMILIES[i].type, type))
            return &FAMILIES[i];
    return NULL;
}

/* Nonzero when docsync would have recognised a file of this declared
 * type by its bytes, so that bytes showing something else contradict it. */
static int recognisable(const char *essence_text)
{
    size_t i;

    for (i = 0; i < COUNT(FAMILIES); i++) {
        if (FAMILIES[i].weak)
            continue;
        if (match(FAMILIES[i].type, essence_text) ||
            match_any(FAMILIES[i].same, essence_text))
            return 1;
    }
    return 0;
}

/* Nonzero when the declared essence names what the detected type is, or
 * a type that the bytes cannot tell from it; a zip is counted only when
 * with_zip is set (a vague name is still not a more precise one). */
static int related(const char *decl, const char *detected, int with_zip)
{
    const struct family *fam = family_of(detected);

    if (strcasecmp(decl, detected) == 0)
        return 1;
    if (fam == NULL)
        return 0;
    if (match_any(fam->same, decl))
        return 1;
    if (with_zip && fam->zip_based && match_any(ZIP_ALIASES, decl))
        return 1;
    return fam->weak && !recognisable(decl);
}

/* The extension's type when it is a more precise name of the detected
 * type (a .csv that is text, a .docm that is OOXML Word), else detected. */
static const char *refine(const char *detected, const char *file_name)
{
    const char *ext = ds_mime_from_extension(file_name);

    return ext != NULL && related(ext, detected, 0) ? ext : detected;
}

/* ---- Sniffing ------------------------------------------------------------ */

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int has(const unsigned char *p, size_t n, size_t off,
               const char *bytes, size_t len)
{
    return bytes == NULL ||
           (off + len <= n && memcmp(p + off, bytes, len) == 0);
}

static const char *by_magic(const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < COUNT(MAGIC); i++)
        if (has(p, n, MAGIC[i].off, MAGIC[i].bytes, MAGIC[i].len) &&
            has(p, n, MAGIC[i].off2, MAGIC[i].bytes2, MAGIC[i].len2))
            return MAGIC[i].type;
    return NULL;
}

/* The type of one brand of the wanted kind (specific or not), or NULL. */
static const char *brand_type(const unsigned char *b, int specific)
{
    size_t i;

    for (i = 0; i < COUNT(BRANDS); i++)
        if (BRANDS[i].specific == specific &&
            memcmp(b, BRANDS[i].brand, 4) == 0)
            return BRANDS[i].type;
    return NULL;
}

/* An ISO BMFF file starts with its ftyp box: size, "ftyp", the major
 * brand, a minor version, then compatible brands to the box's end. */
static const char *by_brand(const unsigned char *p, size_t n)
{
    size_t end, off;
    int specific;

    if (n < 16 || memcmp(p + 4, "ftyp", 4) != 0)
        return NULL;
    end = be32(p) < n ? be32(p) : n;
    for (specific = 1; specific >= 0; specific--) {
        const char *type = brand_type(p + 8, specific);

        for (off = 16; type == NULL && off + 4 <= end; off += 4)
            type = brand_type(p + off, specific);
        if (type != NULL)
            return type;
    }
    return NULL;
}

typedef enum { ZIP_PLAIN, ZIP_OOXML, ZIP_WORD, ZIP_EXCEL, ZIP_POWERPOINT }
    zip_kind;

/* What an entry's name says of the zip: word/, xl/ and ppt/ are the main
 * parts of OOXML documents, [Content_Types].xml, _rels/ and docProps/
 * are in every OOXML file. */
static zip_kind part_kind(const unsigned char *name, size_t len)
{
    static const struct {
        const char *prefix;
        zip_kind kind;
    } parts[] = {
        {"word/", ZIP_WORD}, {"xl/", ZIP_EXCEL}, {"ppt/", ZIP_POWERPOINT},
        {"[Content_Types].xml", ZIP_OOXML}, {"_rels/", ZIP_OOXML},
        {"docProps/", ZIP_OOXML},
    };
    size_t i;

    for (i = 0; i < COUNT(parts); i++) {
        size_t k = strlen(parts[i].prefix);

        if (len >= k && memcmp(name, parts[i].prefix, k) == 0)
            return parts[i].kind;
    }
    return ZIP_PLAIN;
}

/* The type named by a first entry "mimetype" stored uncompressed, or
 * NULL. */
static const char *zip_mimetype(const unsigned char *p, size_t n)
{
    size_t len, i;

    if (n < 38 || le16(p + 8) != 0 || le16(p + 26) != 8 ||
        memcmp(p + 30, "mimetype", 8) != 0)
        return NULL;
    len = le32(p + 18);
    if (38 + (size_t)le16(p + 28) + len > n)
        return NULL;
    p += 38 + le16(p + 28);
    for (i = 0; ZIP_MIMETYPES[i] != NULL; i++)
        if (strlen(ZIP_MIMETYPES[i]) == len &&
            memcmp(p, ZIP_MIMETYPES[i], len) == 0)
            return ZIP_MIMETYPES[i];
    return NULL;
}

/* The most telling kind among the local headers that lie within n. An
 * entry whose size follows its data (flag bit 3) or is in a zip64 field
 * cannot be stepped over: the walk stops there. */
static zip_kind zip_walk(const unsigned char *p, size_t n)
{
    zip_kind kind = ZIP_PLAIN;
    uint64_t off = 0;

    while (kind < ZIP_WORD && off + 30 <= n &&
           memcmp(p + off, "PK\3\4", 4) == 0) {
        const unsigned char *h = p + off;
        uint32_t size = le32(h + 18);
        size_t name_len = le16(h + 26);
        zip_kind k;

        if (off + 30 + name_len > n)
            break;
        k = part_kind(h + 30, name_len);
        if (k > kind)
            kind = k;
        if ((le16(h + 6) & 0x8) != 0 || size == 0xffffffffu)
            break;
        off += 30 + (uint64_t)name_len + le16(h + 28) + size;
    }
    return kind;
}

/* A zip-based office file, or a plain zip; the extension settles what
 * the first entries leave open. */
static const char *by_zip(const unsigned char *p, size_t n,
                          const char *file_name)
{
    static const char *const office[] = {DOCX, XLSX, PPTX};
    const char *type = zip_mimetype(p, n);
    zip_kind kind;
    size_t i;

    if (type != NULL)
        return type;
    kind = zip_walk(p, n);
    if (kind >= ZIP_WORD)
        return refine(office[kind - ZIP_WORD], file_name);
    if (kind == ZIP_PLAIN)
        return refine(ZIP, file_name);
    /* OOXML, but which: only an OOXML extension can say. */
    type = ds_mime_from_extension(file_name);
    for (i = 0; type != NULL && i < COUNT(office); i++)
        if (related(type, office[i], 0))
            return type;
    return ZIP;
}

/* OLE2 holds Word, Excel, PowerPoint and Outlook files alike. */
static const char *by_ole2(const char *file_name)
{
    const char *ext = ds_mime_from_extension(file_name);

    return ext != NULL && related(ext, MSWORD, 0) ? ext : MSWORD;
}

/* Text: well-formed UTF-8 (a sequence cut by the end of the head is
 * fine), without NUL or control bytes other than the usual whitespace and
 * ESC. */
static int is_text(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t len = ds_utf8_seq_len(p + i, n - i);

        if (len == 0)
            return ds_utf8_is_cut(p + i, n - i);
        if (p[i] == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f) &&
                          strchr("\t\n\v\f\r\x1b", p[i]) == NULL))
            return 0;
        i += len;
    }
    return 1;
}

const char *ds_mime_sniff(const void *head, size_t n, const char *file_name)
{
    static const unsigned char OLE2[] = {0xd0, 0xcf, 0x11, 0xe0,
                                         0xa1, 0xb1, 0x1a, 0xe1};
    const unsigned char *p = head;
    const char *type;

    if (p == NULL || n == 0)
        return NULL;
    if (n > DS_MIME_HEAD_MAX)
        n = DS_MIME_HEAD_MAX;
    type = by_magic(p, n);
    if (type == NULL)
        type = by_brand(p, n);
    if (type != NULL)
        return type;
    if (n >= 4 && memcmp(p, "PK\3\4", 4) == 0)
        return by_zip(p, n, file_name);
    if (n >= 4 && memcmp(p, "PK\5\6", 4) == 0)
        return ZIP;                      /* an empty zip */
    if (n >= sizeof(OLE2) && memcmp(p, OLE2, sizeof(OLE2)) == 0)
        return by_ole2(file_name);
    return is_text(p, n) ? "text/plain" : NULL;
}

const char *ds_mime_from_extension(const char *file_name)
{
    const char *dot, *base;
    size_t i;

    if (file_name == NULL)
        return NULL;
    base = file_name;
    for (i = 0; file_name[i] != '\0'; i++)
        if (file_name[i] == '/' || file_name[i] == '\\')
            base = file_name + i + 1;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base || dot[1] == '\0')
        return NULL;
    for (i = 0; i < COUNT(EXTENSIONS); i++)
        if (strcasecmp(dot + 1, EXTENSIONS[i].ext) == 0)
            return EXTENSIONS[i].type;
    return NULL;
}

/* ---- Declared against detected ------------------------------------------- */

int ds_mime_is_generic(const char *declared)
{
    char e[128];
    size_t i;

    if (declared == NULL || essence(declared, e, sizeof(e)) < 0)
        return 1;
    /* A control character (a CR LF inside a parameter) would break every
     * header the type is sent in: such a text is no type. */
    for (i = 0; declared[i] != '\0'; i++)
        if (((unsigned char)declared[i] < 0x20 && declared[i] != '\t') ||
            declared[i] == 0x7f)
            return 1;
    for (i = 0; GENERIC[i] != NULL; i++)
        if (strcmp(e, GENERIC[i]) == 0)
            return 1;
    return 0;
}

int ds_mime_consistent(const char *declared, const char *detected)
{
    char e[128];

    if (detected == NULL || ds_mime_is_generic(declared))
        return 1;
    essence(declared, e, sizeof(e));
    return related(e, detected, 1);
}

/* Nonzero when s holds something other than spaces. */
static int present(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if (*s != ' ' && *s != '\t')
            return 1;
    return 0;
}

void ds_mime_choose(const char *declared, const char *detected,
                    const char *file_name, ds_mime_choice *out)
{
    const char *ext = ds_mime_from_extension(file_name);

    memset(out, 0, sizeof(*out));
    if (!ds_mime_is_generic(declared)) {
        if (ds_mime_consistent(declared, detected)) {
            out->type = declared;
            out->source = DS_MIME_FROM_CRM;
            return;
        }
        out->contradicted = 1;
    }
    out->declared_unused = present(declared);
    if (detected != NULL) {
        out->type = refine(detected, file_name);
        out->source = DS_MIME_FROM_CONTENT;
    } else if (ext != NULL) {
        out->type = ext;
        out->source = DS_MIME_FROM_EXTENSION;
    } else {
        out->type = OCTET_STREAM;
        out->source = DS_MIME_FROM_DEFAULT;
    }
}

const char *ds_mime_source_name(ds_mime_source source)
{
    static const char *const names[] = {"crm", "content", "extension",
                                        "default"};

    return (size_t)source < COUNT(names) ? names[source] : "default";
}
