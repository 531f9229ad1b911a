/* joinflow_spawn: on the loop thread, each child's output and exit, and the end of its request. */
#include "spawn.h"

/* Calls fn(argv...) with r's async context, as an event-loop callback (microtasks run after). */
static void call(request_t *r, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = r->env;
  napi_value fn, receiver;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_global(env, &receiver); /* napi_make_callback wants an object */
  if (napi_make_callback(env, r->context, receiver, fn, argc, argv, NULL) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

void jf_link_live(request_t *r) {
  launcher_t *l = r->launcher;
  r->live_prev = NULL;
  r->live_next = l->live;
  if (l->live != NULL) l->live->live_prev = r;
  l->live = r;
}

static void unlink_live(request_t *r) {
  if (r->live_prev != NULL) r->live_prev->live_next = r->live_next;
  else r->launcher->live = r->live_next;
  if (r->live_next != NULL) r->live_next->live_prev = r->live_prev;
  r->live_prev = r->live_next = NULL;
}

/* Frees a request once nothing refers to it any more. */
void jf_maybe_free(request_t *r) {
  if (r->handles > 0 || !r->settled) return;
  /* A detached request's launcher may be freed already (its close callback can run first). */
  if (!r->detached) unlink_live(r);
  if (!r->detached) {
    napi_delete_reference(r->env, r->on_spawn);
    napi_delete_reference(r->env, r->on_output);
    napi_delete_reference(r->env, r->on_exit);
    napi_async_destroy(r->env, r->context);
  }
  jf_free_request(r);
  free(r);
}

/* At teardown, the last close callback lets the environment go on (and unload this addon). */
void jf_closed_at_teardown(launcher_t *l) {
  if (--l->closing > 0) return;
  napi_remove_async_cleanup_hook(l->cleanup);
  free(l);
}

static void on_handle_closed(uv_handle_t *handle) {
  request_t *r = handle->data;
  if (handle == (uv_handle_t *)&r->exit_poll) close(r->pidfd);
  else close(r->output_fd[handle == (uv_handle_t *)&r->output[0] ? 0 : 1]);
  r->handles--;
  launcher_t *l = r->launcher;
  int detached = r->detached;
  jf_maybe_free(r);
  if (detached) jf_closed_at_teardown(l);
}

void jf_close_poll(uv_poll_t *poll) {
  uv_poll_stop(poll);
  uv_close((uv_handle_t *)poll, on_handle_closed);
}

/* Output passed on as it is read: onOutput(stream, buffer), then onOutput(stream, null) at its end. */
void jf_on_output(uv_poll_t *handle, int status, int events) {
  request_t *r = handle->data;
  int stream = handle == &r->output[0] ? 0 : 1;
  char buffer[65536];
  size_t total = 0;
  for (;;) {
    ssize_t got = read(r->output_fd[stream], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    napi_handle_scope scope;
    napi_open_handle_scope(r->env, &scope);
    napi_value argv[2];
    napi_create_int32(r->env, stream, &argv[0]);
    if (got > 0) {
      napi_create_buffer_copy(r->env, (size_t)got, buffer, NULL, &argv[1]);
    } else {
      /* The end (or a read error, which ends it too). */
      jf_close_poll(handle);
      napi_get_null(r->env, &argv[1]);
    }
    call(r, r->on_output, 2, argv);
    napi_close_handle_scope(r->env, scope);
    if (got <= 0) return;
    /* A chatty child does not keep the loop to itself: the rest on the next turn. */
    total += (size_t)got;
    if (total >= 4 * sizeof buffer) return;
  }
}

static void on_exited(uv_poll_t *handle, int status, int events) {
  request_t *r = handle->data;
  int wstatus = 0;
  pid_t got;
  do got = waitpid(r->pid, &wstatus, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) return; /* not exited yet (a spurious wake-up) */
  jf_close_poll(handle);
  r->settled = 1;
  /* Output still to come is from processes the child left behind (a shell's background job holding
     its pipes): it is passed on, but must not keep this process alive. */
  for (int i = 0; i < 2; i++)
    if (!uv_is_closing((uv_handle_t *)&r->output[i])) uv_unref((uv_handle_t *)&r->output[i]);
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  napi_value argv[2];
  napi_get_null(r->env, &argv[0]);
  napi_get_null(r->env, &argv[1]);
  if (got > 0 && WIFEXITED(wstatus)) napi_create_int32(r->env, WEXITSTATUS(wstatus), &argv[0]);
  else if (got > 0 && WIFSIGNALED(wstatus)) napi_create_int32(r->env, WTERMSIG(wstatus), &argv[1]);
  /* got < 0 (someone else reaped it): both null, the status is unknown. */
  call(r, r->on_exit, 2, argv);
  napi_close_handle_scope(r->env, scope);
}

/* On the loop thread: the spawns the thread has done, in order; their exits are watched. */
void jf_on_spawned(uv_async_t *async) {
  launcher_t *l = async->data;
  pthread_mutex_lock(&l->lock);
  request_t *r = l->done;
  l->done = l->done_tail = NULL;
  pthread_mutex_unlock(&l->lock);
  uv_loop_t *loop = async->loop;
  while (r != NULL) {
    request_t *next = r->next;
    napi_env env = r->env;
    if (--l->in_flight == 0) uv_unref((uv_handle_t *)&l->async);
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[2];
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
    if (r->error == 0) {
      r->pidfd = jf_pidfd_open(r->pid);
      int failed = r->pidfd < 0 ? errno : 0;
      if (failed == 0 && uv_poll_init(loop, &r->exit_poll, r->pidfd) != 0) {
        failed = EINVAL;
        close(r->pidfd);
        r->pidfd = -1;
      }
      if (failed == 0) {
        r->exit_poll.data = r;
        r->handles++;
        uv_poll_start(&r->exit_poll, UV_READABLE, on_exited);
        napi_create_int32(env, r->pid, &argv[1]);
      } else {
        /* Nobody could learn its exit: stop it rather than leave it unobserved. */
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        r->error = failed;
      }
    }
    if (r->error != 0) {
      argv[0] = jf_error_of(env, r->file, r->error);
      r->settled = 1;
    }
    call(r, r->on_spawn, 2, argv);
    napi_close_handle_scope(env, scope);
    /* The command is no longer needed. */
    jf_free_request(r);
    jf_maybe_free(r);
    r = next;
  }
}

void jf_on_async_closed(uv_handle_t *handle) { jf_closed_at_teardown(handle->data); }
