/* joinflow_spawn (spawn.c): the types and functions its files share. */
#ifndef JOINFLOW_SPAWN_H
#define JOINFLOW_SPAWN_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define DEFAULT_PATH "/usr/bin:/bin"

struct launcher_s;

/*
 * One spawn: asked for on the loop thread, done on the spawn thread, watched on the loop thread.
 * It lives until its three handles (stdout, stderr, pidfd) are closed and its end is reported.
 */
typedef struct request_s {
  struct request_s *next;
  /* In the launcher's list of live requests (loop thread). */
  struct request_s *live_prev, *live_next;
  struct launcher_s *launcher;
  /* What to run; freed once spawned. */
  char *file, *cwd;
  char **argv, **envp;
  /* The child's ends of its pipes: closed by the spawn thread once posix_spawn has returned. */
  int child_fds[3];
  /* Set by the spawn thread. */
  pid_t pid;
  int error;
  /* Loop thread only. */
  napi_env env;
  napi_ref on_spawn, on_output, on_exit;
  napi_async_context context;
  uv_poll_t output[2]; /* stdout, stderr: read here, passed to onOutput */
  int output_fd[2];
  uv_poll_t exit_poll;
  int pidfd;
  int handles;  /* handles initialised and not yet closed */
  int settled;  /* exit reported, or the spawn failed */
  int detached; /* the environment is going away: no more calls into JS */
} request_t;

/* Per Node environment (main thread or worker): the spawn thread and its two queues. */
typedef struct launcher_s {
  uv_async_t async; /* spawn thread -> loop: requests done */
  pthread_t thread;
  int started, stopping;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  request_t *todo, *todo_tail, *done, *done_tail;
  /* Loop thread only: requests asked for and not yet answered (the async handle is referenced,
     keeping the loop alive, while there are any), and the live requests. */
  unsigned in_flight;
  request_t *live;
  /* Teardown: handles still closing; the environment waits for them (async cleanup hook). */
  napi_async_cleanup_hook_handle cleanup;
  int closing;
} launcher_t;

/* child.c: the command's arguments from JS, and the spawn itself. */
napi_value jf_error_of(napi_env env, const char *file, int err);
char *jf_string_of(napi_env env, napi_value value, const char *what);
char **jf_strings_of(napi_env env, napi_value value, const char *what);
void jf_free_strings(char **list);
void jf_close_pair(int fds[2]);
void jf_run_request(request_t *r);
void jf_free_request(request_t *r);
int jf_pidfd_open(pid_t pid);

/* watch.c: on the loop thread, the children's output and exits, and the requests' ends. */
void jf_link_live(request_t *r);
void jf_maybe_free(request_t *r);
void jf_closed_at_teardown(launcher_t *l);
void jf_close_poll(uv_poll_t *poll);
void jf_on_output(uv_poll_t *handle, int status, int events);
void jf_on_spawned(uv_async_t *async);
void jf_on_async_closed(uv_handle_t *handle);

#endif
