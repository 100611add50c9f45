"""The print stylesheet and the HTML document around a rendered template (pure).

The stylesheet is the same for every render -- the title and the envelope id reach the
page margins through running elements in the document -- so WeasyPrint's CSS object is
built once per thread and reused.
"""

from __future__ import annotations

from html import escape

from accord.drafting.tags import FIELD_SIZES

__all__ = ["PRINT_CSS", "document_html"]

_FIELD_CSS = "\n".join(
    f".accord-field-{kind.replace('_', '-')} "
    f"{{ width: {w:g}pt !important; height: {h:g}pt !important; }}"
    for kind, (w, h) in FIELD_SIZES.items())

PRINT_CSS = """
@page {
  size: Letter;
  margin: 0.95in 0.9in 0.9in 0.9in;
  @top-left {
    content: element(accord-header);
    vertical-align: bottom;
    padding-bottom: 8pt;
  }
  @bottom-left {
    content: element(accord-footer);
    vertical-align: top;
    padding-top: 10pt;
  }
  @bottom-right {
    content: "Page " counter(page) " of " counter(pages);
    vertical-align: top;
    padding-top: 10pt;
    font-family: "Liberation Sans", "DejaVu Sans", sans-serif;
    font-size: 8pt;
    color: #4a5561;
  }
}
.accord-running-header, .accord-running-footer {
  font-family: "Liberation Sans", "DejaVu Sans", sans-serif;
  font-size: 8pt;
  color: #4a5561;
}
.accord-running-header { position: running(accord-header); }
.accord-running-footer { position: running(accord-footer); }
html {
  font-family: "Liberation Serif", "DejaVu Serif", serif;
  font-size: 10.5pt;
  line-height: 1.42;
  color: #111;
}
body { margin: 0; }
h1, h2, h3, h4 {
  font-family: "Liberation Sans", "DejaVu Sans", sans-serif;
  line-height: 1.2;
  break-after: avoid;
}
h1 { font-size: 16pt; text-align: center; margin: 0 0 14pt; letter-spacing: 0.02em; }
h2 { font-size: 11.5pt; margin: 16pt 0 6pt; }
h3 { font-size: 10.5pt; margin: 12pt 0 4pt; }
p { margin: 0 0 7pt; text-align: justify; orphans: 2; widows: 2; }
ul, ol { margin: 0 0 7pt; padding-left: 20pt; }
li { margin-bottom: 3pt; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0 10pt; font-size: 9.5pt; }
th, td { border: 0.6pt solid #8b95a1; padding: 3pt 5pt; text-align: left;
         vertical-align: top; }
th { background: #eef1f4; font-family: "Liberation Sans", "DejaVu Sans", sans-serif; }
tr { break-inside: avoid; }
blockquote { margin: 0 0 7pt 14pt; padding-left: 8pt; border-left: 2pt solid #c8ced6; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; }
hr { border: 0; border-top: 0.6pt solid #8b95a1; margin: 12pt 0; }
img { max-width: 100%; }
.accord-clause { margin: 0; }
.keep-together { break-inside: avoid; }
.page-break { break-before: page; }
table.signatures, table.signatures td, table.signatures th { border: 0; }
table.signatures td { width: 50%; padding: 0 12pt 0 0; font-size: 10pt; }
.signature-block { break-inside: avoid; margin-top: 14pt; }
.accord-field {
  display: inline-block !important;
  vertical-align: baseline;
  border: 0;
  margin: 0;
  padding: 0;
  background: none;
}
""" + _FIELD_CSS + "\n"


def document_html(content: str, *, title: str, envelope_id: str | None, kind: str,
                  footer: str | None = None) -> str:
    """The complete HTML document for a rendered body."""
    label = f"Envelope {envelope_id}" if envelope_id else footer or "Preview"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n"
        f'<body class="accord-{kind}">\n'
        f'<div class="accord-running-header">{escape(title)}</div>\n'
        f'<div class="accord-running-footer">{escape(label)}</div>\n'
        f'<main class="accord-document">\n{content}\n</main>\n</body></html>\n'
    )
