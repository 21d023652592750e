/*
 * ds_mime.h - a document's MIME type from its first bytes and its name.
 *
 * A CRM's mimeType is often missing, generic (application/octet-stream) or
 * wrong (a PDF stored as image/jpeg). The fetcher keeps the first bytes of
 * each file as it streams it and asks ds_mime_sniff what they are; then
 * ds_mime_choose decides which type the document travels with and why.
 *
 * Detected by content: PDF, PNG, JPEG, GIF, TIFF (and BigTIFF), WebP,
 * HEIC/HEIF/AVIF (ISO BMFF ftyp brands), zip-based office files (ODF by
 * the stored "mimetype" entry, OOXML by its part names: word/, xl/, ppt/,
 * and the name's extension where the first entries cannot tell), other
 * zips, OLE2 (legacy MS Office: application/msword unless the extension
 * says Excel, PowerPoint or Outlook), RTF, and text (well-formed UTF-8
 * without NUL or control bytes). Everything else is unknown (NULL).
 *
 * Types are compared by their essence: case, surrounding spaces and
 * parameters ("; charset=utf-8") do not count. Every function here is a
 * table look-up: nothing is allocated, nothing can fail, and every type
 * returned is a static string.
 */
#ifndef DS_MIME_H
#define DS_MIME_H

#include <stddef.h>

/* How many first bytes of a file ds_mime_sniff looks at: a page, enough
 * to see past the first entry of an OOXML zip to the part names that
 * tell a document from a spreadsheet. */
#define DS_MIME_HEAD_MAX 4096

/* The type that the first n bytes of a file (head, at most
 * DS_MIME_HEAD_MAX are looked at) show, or NULL when they show none of the
 * types above or n is 0. file_name (may be NULL) only settles what the
 * bytes leave open: which OOXML or OLE2 type, or what a zip is. */
const char *ds_mime_sniff(const void *head, size_t n, const char *file_name);

/* The type of the extension of file_name (any case: "Offer.PDF"), or NULL
 * when it has none or one outside the table: the types above, plus
 * .txt and .csv. A leading dot alone (".pdf") is not an extension. */
const char *ds_mime_from_extension(const char *file_name);

/* Nonzero when a declared type says nothing about the content: NULL,
 * empty or spaces only, a generic type (application/octet-stream,
 * binary/octet-stream, application/unknown and the like), a text that is
 * not of the form type/subtype at all, or one holding a control character
 * but tab anywhere (a CR LF in a parameter could not go into a header). */
int ds_mime_is_generic(const char *declared);

/* Nonzero unless declared contradicts the detected type: the same type,
 * an alias (image/jpg for image/jpeg), a wider or related one that the
 * bytes cannot tell apart (application/vnd.ms-excel for OLE2 detected as
 * Word, any zip-based type for a zip, image/heif for HEIC), a generic
 * declared type, or no detection (NULL) are all consistent. Text is weak
 * evidence: it contradicts only declared types that docsync recognises by
 * their bytes (a "PDF" that is text is not one; a text/csv is). */
int ds_mime_consistent(const char *declared, const char *detected);

/* Where the type a document travels with comes from. */
typedef enum {
    DS_MIME_FROM_CRM,        /* the CRM's, consistent with the content */
    DS_MIME_FROM_CONTENT,    /* detected (maybe refined by the extension) */
    DS_MIME_FROM_EXTENSION,  /* the file name's extension */
    DS_MIME_FROM_DEFAULT     /* application/octet-stream */
} ds_mime_source;

typedef struct ds_mime_choice {
    const char *type;        /* declared itself, or a static string */
    ds_mime_source source;
    int declared_unused;     /* declared is not blank and not used */
    int contradicted;        /* declared contradicts the content */
} ds_mime_choice;

/* Chooses the type of a document from the CRM's declared type (may be
 * NULL), the detected one (NULL: unknown or not looked at, as for an
 * empty file) and its file name (may be NULL):
 *   - the CRM's when it says something and the content agrees;
 *   - else the detected type, or the extension's type when that is a more
 *     precise name of what the bytes show (text named .csv is text/csv);
 *   - else the extension's type; else application/octet-stream.
 * The content wins over a CRM type it contradicts (contradicted set). */
void ds_mime_choose(const char *declared, const char *detected,
                    const char *file_name, ds_mime_choice *out);

/* "crm", "content", "extension" or "default": the record's
 * mimeTypeSource. */
const char *ds_mime_source_name(ds_mime_source source);

#endif
