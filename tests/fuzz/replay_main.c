/* replay_main.c - runs a libFuzzer target's LLVMFuzzerTestOneInput over files
 * given on the command line, without libFuzzer: for valgrind, gdb or a compiler
 * without -fsanitize=fuzzer. Example (valgrind over the fuzz corpus):
 *   gcc -g -O1 -Iruntime tests/fuzz/replay_main.c tests/fuzz/fuzz_model.c \
 *       -Iinclude runtime/safetensors.c runtime/model_file.c runtime/status.c -lcjson -o /tmp/replay_model
 *   valgrind --leak-check=full --error-exitcode=9 /tmp/replay_model $(ls -d build-fuzz/corpus/fuzz_model/[0-9a-f]*)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        if (!fp) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            bad = 1;
            continue;
        }
        size_t cap = 1 << 16, n = 0;
        unsigned char *buf = malloc(cap);
        size_t r;
        while (buf && (r = fread(buf + n, 1, cap - n, fp)) > 0) {
            n += r;
            if (n == cap) {
                unsigned char *nb = realloc(buf, cap * 2);
                if (!nb) break;
                buf = nb;
                cap *= 2;
            }
        }
        fclose(fp);
        if (!buf) return 2;
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("replay: %d inputs\n", argc - 1);
    return bad;
}
