/* main.c - the seqboat command-line program. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: seqboat <command> [options]\n"
            "commands:\n"
            "  devices                       list OpenCL platforms and devices\n"
            "  run --model M --input IN --output OUT [--device D] [--stats]\n"
            "  inspect --model M             print config, tensors and parameter count\n"
            "  generate [--model M] --prompt TEXT [--max-tokens N] [--temperature T]\n"
            "           [--top-p P] [--seed S] [--device D] [--stats]\n"
            "  selftest [--device D]         run a small kernel on the device\n"
            "  bench [--device D|all] [--lengths L,...] [--shares S,...] ...  (bench --help)\n"
            "  version\n"
            "environment: SEQBOAT_DEVICE (index or name), SEQBOAT_CACHE_DIR (folder or 'off'),\n"
            "             SEQBOAT_KERNEL_DIR (load cl/*.cl from a folder, for development)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "devices")) return cli_devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate")) return cli_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return cli_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return cli_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "selftest")) return cli_selftest(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "version")) {
        printf("seqboat %s\n", SB_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "seqboat: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
