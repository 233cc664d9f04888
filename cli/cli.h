#ifndef SB_CLI_H
#define SB_CLI_H
#include "seqboat.h"
int cli_devices(int argc, char **argv);
int cli_selftest(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_bench(int argc, char **argv);
/* Value of --name in argv (or NULL); sets *bad on a missing value. */
const char *cli_opt(int argc, char **argv, const char *name);
int cli_flag(int argc, char **argv, const char *name);
#endif
