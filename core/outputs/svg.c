/* Pieces shared by the SVG plots. */
#include <math.h>

#include "isoformer/outputs.h"

void iso_svg_begin(FILE *fp, double w, double h)
{
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            w, h);
}

void iso_svg_escape(FILE *fp, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        default: fputc(*s, fp);
        }
}

void iso_svg_text(FILE *fp, double x, double y, int size, const char *anchor, const char *extra, const char *s)
{
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\"%s>", x, y, size, anchor, extra);
    iso_svg_escape(fp, s);
    fputs("</text>\n", fp);
}

double iso_svg_step(double span)
{
    double step = pow(10, floor(log10(span / 4)));
    return span / step > 20 ? step * 5 : span / step > 8 ? step * 2 : step;
}
