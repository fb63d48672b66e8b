/* Test driver: tokenizes each line of stdin with our RNA or protein tokenizer and prints the ids.
 *   tokens_driver rna|protein MAX_TOKENS [PAD_TO] < sequences   (MAX_TOKENS <= 0: no limit)
 * With PAD_TO the ids are padded to that length and followed by a tab and the attention mask.
 *   tokens_driver vocab DIR                               (writes the three vocab files) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "isoformer/tokens.h"

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "vocab"))
        return iso_tokens_write_vocab(argv[2]) == ISO_OK ? 0 : (fprintf(stderr, "%s\n", iso_last_error()), 1);
    if (argc < 3 || argc > 4 || (strcmp(argv[1], "rna") && strcmp(argv[1], "protein"))) {
        fprintf(stderr, "usage: tokens_driver rna|protein MAX_TOKENS [PAD_TO] < seqs | tokens_driver vocab DIR\n");
        return 2;
    }
    int rna = !strcmp(argv[1], "rna"), max = atoi(argv[2]), pad_to = argc == 4 ? atoi(argv[3]) : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        iso_tokens t = {0};
        if ((rna ? iso_tokenize_rna(line, n, max, &t) : iso_tokenize_protein(line, n, max, &t)) != ISO_OK ||
            iso_tokens_pad(&t, pad_to) != ISO_OK) {
            fprintf(stderr, "%s\n", iso_last_error());
            iso_tokens_free(&t);
            free(line);
            return 1;
        }
        for (int i = 0; i < t.n; i++)
            printf("%s%d", i ? " " : "", t.ids[i]);
        if (pad_to > 0) {
            uint8_t *mask = malloc((size_t)t.n + 1);
            if (!mask)
                return 1;
            iso_tokens_mask(&t, mask);
            for (int i = 0; i < t.n; i++)
                printf("%s%d", i ? " " : "\t", mask[i]);
            free(mask);
        }
        printf("\n");
        iso_tokens_free(&t);
    }
    free(line);
    return 0;
}
