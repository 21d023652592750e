/*
 * test_mime.c - specification of common/ds_mime: what the first bytes of
 * a file are (the heads of the real files in samples/, read at test time,
 * and heads made here for the kinds samples/ does not hold), the table of
 * extensions, which declared types the bytes contradict, and the choice of
 * the type a document travels with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ds_mime.h"

#define ODT "application/vnd.oasis.opendocument.text"
#define ODS "application/vnd.oasis.opendocument.spreadsheet"
#define DOCX "application/vnd.openxmlformats-officedocument." \
             "wordprocessingml.document"
#define XLSX "application/vnd.openxmlformats-officedocument." \
             "spreadsheetml.sheet"
#define PPTX "application/vnd.openxmlformats-officedocument." \
             "presentationml.presentation"
#define DOCM "application/vnd.ms-word.document.macroEnabled.12"

/* A string literal as bytes and their count, NULs included. */
#define BYTES(s) s, sizeof(s) - 1

/* Asserts that two types (either may be NULL) are the same, printing both
 * and the case. */
static void assert_type(const char *what, const char *got, const char *want)
{
    if ((got == NULL) != (want == NULL) ||
        (got != NULL && strcmp(got, want) != 0))
        print_message("%s: got %s, want %s\n", what, got ? got : "(none)",
                      want ? want : "(none)");
    assert_string_equal(got ? got : "(none)", want ? want : "(none)");
}

/* ---- Real files ---------------------------------------------------------- */

static const struct {
    const char *path;
    const char *type;
} SAMPLES[] = {
    {"samples/minimal-document.pdf", "application/pdf"},
    {"samples/crazyones-pdfa.pdf", "application/pdf"},
    {"samples/google-doc-document.pdf", "application/pdf"},
    {"samples/habibi.pdf", "application/pdf"},
    {"samples/libreoffice-form.pdf", "application/pdf"},
    {"samples/libreoffice-writer-password.pdf", "application/pdf"},
    {"samples/multicolumn.pdf", "application/pdf"},
    {"samples/pdflatex-forms.pdf", "application/pdf"},
    {"samples/with-attachment.pdf", "application/pdf"},
    {"samples/image.jpg", "image/jpeg"},
    {"samples/smile.tiff", "image/tiff"},
    {"samples/source.odt", ODT},
    {"samples/README.md", "text/plain"},
};

/* The first bytes of each sample, as the fetcher keeps them, show its
 * type; with no name given, so that only the bytes decide. */
static void the_samples_are_known_by_their_first_bytes(void **state)
{
    unsigned char head[DS_MIME_HEAD_MAX];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(SAMPLES) / sizeof(SAMPLES[0]); i++) {
        FILE *fp = fopen(SAMPLES[i].path, "rb");

        assert_non_null(fp);
        n = fread(head, 1, sizeof(head), fp);
        fclose(fp);
        assert_true(n > 0);
        assert_type(SAMPLES[i].path, ds_mime_sniff(head, n, NULL),
                    SAMPLES[i].type);
        /* 512 bytes are enough for these too. */
        assert_type(SAMPLES[i].path, ds_mime_sniff(head, n < 512 ? n : 512,
                                                   NULL), SAMPLES[i].type);
    }
}

/* ---- Heads made here ----------------------------------------------------- */

typedef struct head {
    unsigned char b[1024];
    size_t n;
} head;

static void put(head *h, const void *bytes, size_t n)
{
    assert_true(h->n + n <= sizeof(h->b));
    memcpy(h->b + h->n, bytes, n);
    h->n += n;
}

static void put_le(head *h, uint32_t v, int bytes)
{
    int i;

    for (i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));

        put(h, &c, 1);
    }
}

/* Appends a zip local file header with its data, stored. With
 * descriptor, the sizes are left to a data descriptor (flag bit 3), as
 * streaming zip writers do, and the header says 0. */
static void zip_entry(head *h, const char *name, const char *data,
                      int descriptor)
{
    size_t len = strlen(data);

    put(h, "PK\3\4", 4);
    put_le(h, 20, 2);                        /* version needed */
    put_le(h, descriptor ? 8 : 0, 2);        /* flags */
    put_le(h, 0, 2);                         /* method: stored */
    put_le(h, 0, 4);                         /* time, date */
    put_le(h, 0, 4);                         /* crc-32 (not looked at) */
    put_le(h, descriptor ? 0 : (uint32_t)len, 4);
    put_le(h, descriptor ? 0 : (uint32_t)len, 4);
    put_le(h, (uint32_t)strlen(name), 2);
    put_le(h, 0, 2);                         /* extra field */
    put(h, name, strlen(name));
    put(h, data, len);
}

/* An ISO BMFF head: the ftyp box with its brands, then an empty meta. */
static void ftyp(head *h, const char *major, const char *compatible)
{
    uint32_t size = (uint32_t)(16 + strlen(compatible));
    unsigned char be[4] = {(unsigned char)(size >> 24),
                           (unsigned char)(size >> 16),
                           (unsigned char)(size >> 8), (unsigned char)size};

    put(h, be, 4);
    put(h, "ftyp", 4);
    put(h, major, 4);
    put(h, "\0\0\0\0", 4);
    put(h, compatible, strlen(compatible));
    put(h, "\0\0\0\x08meta", 8);
}

static void the_image_heads_are_known(void **state)
{
    static const struct {
        const char *what, *bytes;
        size_t n;
        const char *type;
    } cases[] = {
        {"PNG", BYTES("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png"},
        {"GIF87a", BYTES("GIF87a\x01\0\x01\0"), "image/gif"},
        {"GIF89a", BYTES("GIF89a\x01\0\x01\0"), "image/gif"},
        {"JPEG", BYTES("\xff\xd8\xff\xdb\0C"), "image/jpeg"},
        {"TIFF big-endian", BYTES("MM\0*\0\0\0\x08"), "image/tiff"},
        {"BigTIFF", BYTES("II+\0\x08\0\0\0"), "image/tiff"},
        {"WebP", BYTES("RIFF\x24\0\0\0WEBPVP8 "), "image/webp"},
        {"WAV is RIFF but no image", BYTES("RIFF\x24\0\0\0WAVEfmt "), NULL},
        {"RTF", BYTES("{\\rtf1\\ansi\\deff0"), "application/rtf"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_type(cases[i].what,
                    ds_mime_sniff(cases[i].bytes, cases[i].n, NULL),
                    cases[i].type);
}

/* HEIC from an iPhone, HEIF with only the generic brand, an AVIF that
 * lists mif1 too, and an MP4 video, which is none of these. */
static void iso_bmff_brands_tell_heic_heif_and_avif(void **state)
{
    static const struct {
        const char *major, *compatible, *type;
    } cases[] = {
        {"heic", "mif1heic", "image/heic"},
        {"mif1", "mif1heic", "image/heic"},
        {"mif1", "mif1", "image/heif"},
        {"msf1", "msf1", "image/heif-sequence"},
        {"avif", "avifmif1miaf", "image/avif"},
        {"isom", "isomiso2mp41", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        head h = {{0}, 0};

        ftyp(&h, cases[i].major, cases[i].compatible);
        assert_type(cases[i].major, ds_mime_sniff(h.b, h.n, "IMG_1.HEIC"),
                    cases[i].type);
    }
}

/* An ODF file starts with the stored entry "mimetype" naming its type. */
static void an_odf_zip_is_named_by_its_mimetype_entry(void **state)
{
    head h = {{0}, 0};

    (void)state;
    zip_entry(&h, "mimetype", ODS, 0);
    zip_entry(&h, "content.xml", "<office:document-content/>", 0);

    /* The entry wins over a name that says otherwise. */
    assert_type("ods", ds_mime_sniff(h.b, h.n, "Preisliste.docx"), ODS);
    assert_type("ods without a name", ds_mime_sniff(h.b, h.n, NULL), ODS);
}

/* OOXML: the part names after [Content_Types].xml tell which kind. */
static void ooxml_is_told_by_its_part_names(void **state)
{
    static const struct {
        const char *part, *type;
    } cases[] = {
        {"word/document.xml", DOCX},
        {"xl/workbook.xml", XLSX},
        {"ppt/presentation.xml", PPTX},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        head h = {{0}, 0};

        zip_entry(&h, "[Content_Types].xml", "<Types/>", 0);
        zip_entry(&h, "_rels/.rels", "<Relationships/>", 0);
        zip_entry(&h, cases[i].part, "<x/>", 0);
        assert_type(cases[i].part, ds_mime_sniff(h.b, h.n, NULL),
                    cases[i].type);
        /* The name cannot turn a Word file into a spreadsheet ... */
        assert_type(cases[i].part, ds_mime_sniff(h.b, h.n, "a.odt"),
                    cases[i].type);
    }
}

/* ... but it says which Word type, and what an OOXML zip is whose
 * entries give no kind before the head ends. */
static void the_extension_settles_what_the_zip_entries_leave_open(
    void **state)
{
    head word = {{0}, 0}, opaque = {{0}, 0}, plain = {{0}, 0};

    (void)state;
    zip_entry(&word, "[Content_Types].xml", "<Types/>", 0);
    zip_entry(&word, "word/document.xml", "<w/>", 0);
    assert_type("docm", ds_mime_sniff(word.b, word.n, "Vertrag.DOCM"), DOCM);

    /* A data descriptor: the walk cannot step over the first entry. */
    zip_entry(&opaque, "[Content_Types].xml", "<Types/>", 1);
    zip_entry(&opaque, "xl/workbook.xml", "<x/>", 1);
    assert_type("xlsx by name", ds_mime_sniff(opaque.b, opaque.n,
                                              "Kosten.xlsx"), XLSX);
    assert_type("OOXML, no name", ds_mime_sniff(opaque.b, opaque.n, NULL),
                "application/zip");
    assert_type("OOXML named .odt", ds_mime_sniff(opaque.b, opaque.n,
                                                  "a.odt"),
                "application/zip");

    zip_entry(&plain, "Grundriss/plan.png", "\x89PNG", 0);
    assert_type("plain zip", ds_mime_sniff(plain.b, plain.n, "plans.zip"),
                "application/zip");
    assert_type("plain zip, no name", ds_mime_sniff(plain.b, plain.n, NULL),
                "application/zip");
    assert_type("zip named .docx", ds_mime_sniff(plain.b, plain.n,
                                                 "Vertrag.docx"), DOCX);
    assert_type("zip named .pdf", ds_mime_sniff(plain.b, plain.n, "a.pdf"),
                "application/zip");
    assert_type("empty zip", ds_mime_sniff("PK\5\6\0\0\0\0", 8, NULL),
                "application/zip");
}

/* OLE2 holds every legacy Office file: the extension says which. */
static void ole2_is_word_unless_the_extension_says_otherwise(void **state)
{
    static const char ole2[] = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0\0\0";
    static const struct {
        const char *name, *type;
    } cases[] = {
        {NULL, "application/msword"},
        {"Expose.doc", "application/msword"},
        {"Kosten.XLS", "application/vnd.ms-excel"},
        {"Praesentation.ppt", "application/vnd.ms-powerpoint"},
        {"Mail.msg", "application/vnd.ms-outlook"},
        {"scan.pdf", "application/msword"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_type(cases[i].name ? cases[i].name : "(no name)",
                    ds_mime_sniff(ole2, sizeof(ole2) - 1, cases[i].name),
                    cases[i].type);
}

/* Text is well-formed UTF-8 without NUL or control bytes; a character cut
 * by the end of the head does not make it binary. */
static void text_is_utf8_without_nul(void **state)
{
    static const struct {
        const char *what, *bytes;
        size_t n;
        const char *type;
    } cases[] = {
        {"ASCII", BYTES("Kaufvertrag\r\n\tSeite 1\n"), "text/plain"},
        {"German", BYTES("Gr\xc3\xb6\xc3\x9f" "e: 80 m\xc2\xb2\n"),
         "text/plain"},
        {"cut at the end", BYTES("Preis 100 \xe2\x82"), "text/plain"},
        {"a BOM", BYTES("\xef\xbb\xbfName;Preis\n"), "text/plain"},
        {"Latin-1", BYTES("Gr\xf6\xdf" "e\n"), NULL},
        {"a NUL", BYTES("abc\0def"), NULL},
        {"UTF-16", BYTES("\xff\xfeh\0i\0"), NULL},
        {"a control byte", BYTES("abc\x01" "def"), NULL},
        {"a stray continuation byte", BYTES("abc\x80"), NULL},
        {"%PDF- not at the start", BYTES("see %PDF-1.7"), "text/plain"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_type(cases[i].what,
                    ds_mime_sniff(cases[i].bytes, cases[i].n, NULL),
                    cases[i].type);
}

static void nothing_is_detected_in_nothing(void **state)
{
    (void)state;
    assert_null(ds_mime_sniff("", 0, "a.pdf"));
    assert_null(ds_mime_sniff(NULL, 10, "a.pdf"));
    assert_null(ds_mime_sniff("\x00\x01\x02\x03\xfe\xff", 6, "a.pdf"));
}

/* ---- Extensions ---------------------------------------------------------- */

static void extensions_name_the_same_types_in_any_case(void **state)
{
    static const struct {
        const char *name, *type;
    } cases[] = {
        {"Angebot.pdf", "application/pdf"},
        {"ANGEBOT.PDF", "application/pdf"},
        {"Foto.JPG", "image/jpeg"},
        {"Foto.jpeg", "image/jpeg"},
        {"plan.png", "image/png"},
        {"anim.gif", "image/gif"},
        {"scan.tif", "image/tiff"},
        {"scan.tiff", "image/tiff"},
        {"bild.webp", "image/webp"},
        {"IMG_0001.HEIC", "image/heic"},
        {"bild.heif", "image/heif"},
        {"brief.odt", ODT},
        {"liste.ods", ODS},
        {"Vertrag.docx", DOCX},
        {"Kosten.xlsx", XLSX},
        {"Folien.pptx", PPTX},
        {"alt.doc", "application/msword"},
        {"alt.xls", "application/vnd.ms-excel"},
        {"alt.ppt", "application/vnd.ms-powerpoint"},
        {"brief.rtf", "application/rtf"},
        {"notiz.txt", "text/plain"},
        {"liste.csv", "text/csv"},
        {"archiv.zip", "application/zip"},
        {"v1.2 final.pdf", "application/pdf"},
        {"archiv.tar.gz", NULL},
        {"README", NULL},
        {".pdf", NULL},
        {"trailing.", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_type(cases[i].name ? cases[i].name : "(NULL)",
                    ds_mime_from_extension(cases[i].name), cases[i].type);
}

/* ---- Declared against detected ------------------------------------------- */

static void generic_and_malformed_types_say_nothing(void **state)
{
    static const char *const generic[] = {
        NULL, "", "   ", "application/octet-stream",
        "Application/Octet-Stream; charset=binary", "binary/octet-stream",
        "application/unknown", "pdf", "image/", "/pdf", "image/*",
        "a/b/c", "image jpeg", "application/pdf; a=\"b\r\nX-Evil: 1\"",
        "application/pdf\n", "text/plain\x7f",
    };
    static const char *const specific[] = {
        "application/pdf", " image/jpeg ", "IMAGE/PNG; q=1", "text/plain",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
        print_message("generic: %s\n", generic[i] ? generic[i] : "(NULL)");
        assert_true(ds_mime_is_generic(generic[i]));
    }
    for (i = 0; i < sizeof(specific) / sizeof(specific[0]); i++) {
        print_message("specific: %s\n", specific[i]);
        assert_false(ds_mime_is_generic(specific[i]));
    }
}

static void a_declared_type_agrees_unless_the_bytes_say_otherwise(
    void **state)
{
    static const struct {
        const char *declared, *detected;
        int consistent;
    } cases[] = {
        {"application/pdf", "application/pdf", 1},
        {"Application/PDF; charset=binary", "application/pdf", 1},
        {"application/x-pdf", "application/pdf", 1},
        {"image/jpeg", "application/pdf", 0},
        {"text/plain", "application/pdf", 0},
        {"application/x-something", "application/pdf", 0},
        {"application/octet-stream", "application/pdf", 1},
        {"binary/octet-stream", "image/jpeg", 1},
        {"application/unknown", "image/png", 1},
        {"", "application/pdf", 1},
        {NULL, "application/pdf", 1},
        {"image/jpeg", NULL, 1},
        {"image/jpg", "image/jpeg", 1},
        {"image/pjpeg", "image/jpeg", 1},
        {"image/png", "image/jpeg", 0},
        {"image/heif", "image/heic", 1},
        {"image/x-tiff", "image/tiff", 1},
        {"application/vnd.ms-excel", "application/msword", 1},
        {"application/pdf", "application/msword", 0},
        {ODT, "application/zip", 1},
        {DOCX, "application/zip", 1},
        {"application/epub+zip", "application/zip", 1},
        {"application/zip", DOCX, 1},
        {DOCM, DOCX, 1},
        {XLSX, DOCX, 0},
        {ODT, DOCX, 0},
        {DOCX, ODT, 0},
        {"application/msword", DOCX, 0},
        {"text/rtf", "application/rtf", 1},
        {"application/msword", "application/rtf", 0},
        /* Text is weak: only a type with a signature contradicts it. */
        {"text/csv", "text/plain", 1},
        {"application/json", "text/plain", 1},
        {"image/svg+xml", "text/plain", 1},
        {"application/x-whatever", "text/plain", 1},
        {"application/pdf", "text/plain", 0},
        {"image/jpeg", "text/plain", 0},
        {"application/vnd.ms-excel", "text/plain", 0},
        {"application/zip", "text/plain", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = ds_mime_consistent(cases[i].declared, cases[i].detected);

        print_message("%s vs %s: %d\n",
                      cases[i].declared ? cases[i].declared : "(NULL)",
                      cases[i].detected ? cases[i].detected : "(NULL)", got);
        assert_int_equal(got, cases[i].consistent);
    }
}

/* ---- The choice ---------------------------------------------------------- */

static void the_type_comes_from_the_crm_the_content_the_name_or_default(
    void **state)
{
    static const struct {
        const char *declared, *detected, *name;
        const char *type, *source;
        int unused, contradicted;
    } cases[] = {
        {NULL, "application/pdf", "a.pdf", "application/pdf", "content", 0,
         0},
        {"application/pdf", "application/pdf", "a.pdf", "application/pdf",
         "crm", 0, 0},
        {"Application/PDF; charset=binary", "application/pdf", "a.pdf",
         "Application/PDF; charset=binary", "crm", 0, 0},
        {"image/jpeg", "application/pdf", "a.jpg", "application/pdf",
         "content", 1, 1},
        {"application/pdf", "image/jpeg", "a.pdf", "image/jpeg", "content",
         1, 1},
        {"application/octet-stream", "image/jpeg", "x", "image/jpeg",
         "content", 1, 0},
        {"", "image/png", "x", "image/png", "content", 0, 0},
        {"application/octet-stream", NULL, "scan.tif", "image/tiff",
         "extension", 1, 0},
        {NULL, NULL, "blob", "application/octet-stream", "default", 0, 0},
        {NULL, NULL, NULL, "application/octet-stream", "default", 0, 0},
        /* An empty file: nothing detected, the CRM's type stands. */
        {"application/pdf", NULL, "leer.bin", "application/pdf", "crm", 0,
         0},
        /* Windows calls a CSV an Excel file; the bytes are text. */
        {"application/vnd.ms-excel", "text/plain", "liste.csv", "text/csv",
         "content", 1, 1},
        {"application/x-custom", "text/plain", "a.txt",
         "application/x-custom", "crm", 0, 0},
        {NULL, "text/plain", "notiz", "text/plain", "content", 0, 0},
        {NULL, "image/heic", "IMG_1.heif", "image/heif", "content", 0, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ds_mime_choice c;

        ds_mime_choose(cases[i].declared, cases[i].detected, cases[i].name,
                       &c);
        print_message("case %zu: %s from %s, unused %d, contradicted %d\n",
                      i, c.type, ds_mime_source_name(c.source),
                      c.declared_unused, c.contradicted);
        assert_string_equal(c.type, cases[i].type);
        assert_string_equal(ds_mime_source_name(c.source), cases[i].source);
        assert_int_equal(c.declared_unused, cases[i].unused);
        assert_int_equal(c.contradicted, cases[i].contradicted);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_samples_are_known_by_their_first_bytes),
        cmocka_unit_test(the_image_heads_are_known),
        cmocka_unit_test(iso_bmff_brands_tell_heic_heif_and_avif),
        cmocka_unit_test(an_odf_zip_is_named_by_its_mimetype_entry),
        cmocka_unit_test(ooxml_is_told_by_its_part_names),
        cmocka_unit_test(
            the_extension_settles_what_the_zip_entries_leave_open),
        cmocka_unit_test(ole2_is_word_unless_the_extension_says_otherwise),
        cmocka_unit_test(text_is_utf8_without_nul),
        cmocka_unit_test(nothing_is_detected_in_nothing),
        cmocka_unit_test(extensions_name_the_same_types_in_any_case),
        cmocka_unit_test(generic_and_malformed_types_say_nothing),
        cmocka_unit_test(
            a_declared_type_agrees_unless_the_bytes_say_otherwise),
        cmocka_unit_test(
            the_type_comes_from_the_crm_the_content_the_name_or_default),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
