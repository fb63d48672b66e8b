/* Shared pieces of the isoformer subcommands: the command table, progress on stderr, signal handling. */
#ifndef ISOFORMER_PLUGIN_CLI_H
#define ISOFORMER_PLUGIN_CLI_H

#include <getopt.h>
#include <stddef.h>

/* Each subcommand: int main_<name>(int argc, char **argv), argv[0] being the subcommand name. Returns the
 * process exit status (0 ok, 1 error, 2 usage). */
int main_extract(int argc, char **argv);
int main_convert(int argc, char **argv);
int main_predict(int argc, char **argv);
int main_quant(int argc, char **argv);
int main_eval(int argc, char **argv);
int main_fit(int argc, char **argv);
int main_merge(int argc, char **argv);
int main_variants(int argc, char **argv);

/* Prints "isoformer <cmd>: <message from iso_last_error()>" on stderr and returns 1. */
int cli_fail(const char *cmd);
/* Usage error: prints the message and "Try 'isoformer <cmd> --help'", returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "; <hint>" to the recorded error, keeping its code, which it returns: the fix in the command line's
 * terms (an option to pass), which the library's messages do not name. */
int cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Option opt's argument s as a decimal integer within lo..hi, or a word of words[0..n) (its index): 0, or 2
 * after a usage error naming what was expected. */
int cli_parse_integer(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *v);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *v);
int cli_parse_choice(const char *cmd, const char *opt, const char *s, const char *const *words, int n, int *v);
/* --device: a registered backend's name, or NAME:N; 0, or 2 after a usage error (whether the device exists is
 * found when it is created). */
int cli_parse_device(const char *cmd, const char *s);

/* Progress on stderr, at most a line per second (and a final one), only when stderr is a terminal or
 * ISOFORMER_PROGRESS=1: "<what>: done/total (rate/s, ETA)". */
typedef struct {
    const char *what;
    size_t total, done;
    double t0, last;
    int enabled;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *what, size_t total);
void cli_progress_step(cli_progress *p, size_t n);
void cli_progress_end(cli_progress *p);

/* Installs SIGINT/SIGTERM handlers that say so on stderr, remove the temporary outputs (iso_out_cleanup_all)
 * and exit 130/143. cli_interrupted() tells long loops to stop. A signal that came while an output set was
 * being renamed into place is acted on by cli_finish_interrupted(), which main() calls after the command. */
void cli_install_signal_handlers(void);
int cli_interrupted(void);
void cli_finish_interrupted(void);

double cli_now(void);
/* This process's peak resident memory in MB: VmHWM of /proc/self/status (the program's own image; getrusage's
 * maxrss also counts the parent's pages when it was started by vfork+exec, as Python's subprocess does), else
 * getrusage; -1 when neither is available. */
double cli_peak_rss_mb(void);
/* A side file that values depend on (--normalization, --head), for a run's signature: "crc32:XXXXXXXX" of its
 * bytes in tag (size >= 15), left as it is when path is NULL; what the file holds, not its path. */
int cli_file_tag(const char *path, char *tag, size_t size);
/* Checks the output prefix or file `path` given with option `opt` (e.g. "--out") and creates the directory it
 * lives in (like mkdir -p), so --out results/x works on a fresh tree, takes the prefix's lock (cli_lock_out: one
 * run per prefix; main releases it after the command) and removes the temporaries that killed runs left under it
 * (iso_out_clean_stale). Returns 0; 2 after a usage error for '-' (outputs are named files, never standard
 * output), an empty path or one ending in '/'; 1 when the directory cannot be created or another run holds the
 * prefix. */
int cli_out_path(const char *cmd, const char *opt, const char *path);
/* One run at a time on an output prefix: an exclusive POSIX record lock (fcntl F_SETLK, whole file) on
 * PREFIX.lock, taken after cli_out_path and before anything of the run is written, held until its outputs are in
 * place (cli_unlock_out). A separate file, because the journal and the outputs are replaced by rename (a lock on
 * them would stay with the old inode); fcntl rather than flock, because NFS implements fcntl locks (Linux
 * emulates flock with them there, other systems may not lock at all). The kernel (or the NFS server) drops the
 * lock when the process dies, kill -9 included, so a file left behind never blocks a later run. A prefix
 * locked by a live run is an error naming it ("pid N on host H", written into the file by the holder); where
 * the file system cannot lock (ENOLCK: NFS without a lock manager) the run goes on with a warning. */
int cli_lock_out(const char *opt, const char *prefix);
/* Removes PREFIX.lock (while still holding it) and releases it; nothing when no lock is held (main calls it after
 * every command). */
void cli_unlock_out(void);
/* Removes the directories cli_out_path created, when empty: a run that failed leaves none behind. */
void cli_remove_created_dirs(void);
/* Outputs are written aside and renamed over their path, so an input that is also an output is replaced when the
 * run ends (merge --out s1 s1 s2 lost shard 1, fit -o on its embeddings destroyed them). For each suffix (NULL: the
 * paths themselves), out+suffix must not be the same file as any input+suffix (inputs: prefixes, or files when
 * in_suffixed is 0). Returns 0, or 2 after a usage error naming both. */
int cli_out_not_input(const char *cmd, const char *out, const char *const *inputs, int n_inputs, int in_suffixed,
                      const char *const *suffixes);
/* Commands that read every shard at once (merge, variants --gather) keep n_files open: the soft limit on open
 * files (often 1,024 on clusters) is raised towards the hard one; returns 0, or 1 after an error saying how many
 * files the limit allows when even the hard limit is too low (before any output is written). */
int cli_open_files(const char *cmd, int n_files);

/* --version, accepted by every subcommand: add CLI_VERSION_OPTION to its long options and answer
 * CLI_OPT_VERSION with cli_version(), which prints "isoformer X.Y.Z" on stdout and returns 0. */
enum { CLI_OPT_VERSION = 0x1000 };
#define CLI_VERSION_OPTION {"version", no_argument, NULL, CLI_OPT_VERSION}
int cli_version(void);
/* The options of extract, predict and variants that mean the same in each, with the same letters. */
#define CLI_SEQUENCE_OPTIONS                                                                                        \
    {"fasta", required_argument, NULL, 'f'}, {"gtf", required_argument, NULL, 'g'},                                 \
        {"chrom-alias", required_argument, NULL, 'a'}, {"transcripts", required_argument, NULL, 't'},               \
        {"region", required_argument, NULL, 'R'}, {"window", required_argument, NULL, 'w'},                         \
        {"out", required_argument, NULL, 'o'}, {"threads", required_argument, NULL, '@'},                           \
        {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}, CLI_VERSION_OPTION
/* Ends the output set a command began with iso_out_set_begin(): renames all its outputs into place when rc
 * says the run succeeded, else removes them. Returns rc, or the error of a rename. */
int cli_outputs_end(int rc);
/* -v: raise the log level to info. */
void cli_verbose(int on);

#endif
