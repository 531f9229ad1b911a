/* joinflow_spawn: a command's arguments read from JS, and its posix_spawn on the spawn thread. */
#include "spawn.h"

int jf_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* An Error like child_process's: "spawn <file> <CODE>", with code, errno and syscall. */
napi_value jf_error_of(napi_env env, const char *file, int err) {
  const char *name = uv_err_name(-err);
  char message[512];
  snprintf(message, sizeof message, "spawn %s %s", file, name);
  napi_value code, text, error, errno_value, syscall_value;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, "spawn", NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  return error;
}

/* A JS string as a malloc'd C string; NULL (with a TypeError thrown) if it is not a string. */
char *jf_string_of(napi_env env, napi_value value, const char *what) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char *s = malloc(length + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, s, length + 1, &length);
  if (strlen(s) != length) {
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "strings passed to spawn must not contain null bytes");
    return NULL;
  }
  return s;
}

void jf_free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

/* A JS array of strings as a NULL-terminated malloc'd array; NULL (with an error thrown) otherwise. */
char **jf_strings_of(napi_env env, napi_value value, const char *what) {
  uint32_t n;
  if (napi_get_array_length(env, value, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, value, i, &item);
    list[i] = jf_string_of(env, item, what);
    if (list[i] == NULL) {
      jf_free_strings(list);
      return NULL;
    }
  }
  return list;
}

void jf_close_pair(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
  fds[0] = fds[1] = -1;
}

/*
 * posix_spawn of `path`; a file the kernel cannot execute (ENOEXEC: a script without a "#!" line)
 * is run by /bin/sh, as execvp does, and so libuv's spawn, which the spawner helpers use.
 */
static int spawn_file(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                      const posix_spawnattr_t *attr, char **argv, char **envp) {
  int r = posix_spawn(pid, path, actions, attr, argv, envp);
  if (r != ENOEXEC) return r;
  size_t argc = 0;
  while (argv[argc] != NULL) argc++;
  /* /bin/sh, the file, then the arguments after argv[0]. */
  char **shell_argv = malloc((argc + 2) * sizeof *shell_argv);
  if (shell_argv == NULL) return ENOMEM;
  shell_argv[0] = (char *)"/bin/sh";
  shell_argv[1] = (char *)path;
  for (size_t i = 1; i <= argc; i++) shell_argv[i + 1] = argv[i];
  r = posix_spawn(pid, "/bin/sh", actions, attr, shell_argv, envp);
  free(shell_argv);
  return r;
}

/* posix_spawn of `file`, looked up in the PATH of `envp` when it has no slash (as execvp does). */
static int spawn_in_path(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                         const posix_spawnattr_t *attr, char **argv, char **envp, const char *cwd) {
  if (strchr(file, '/') != NULL) return spawn_file(pid, file, actions, attr, argv, envp);
  const char *path = DEFAULT_PATH;
  for (char **e = envp; *e != NULL; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;
      break;
    }
  }
  size_t file_length = strlen(file);
  char *candidate = malloc(strlen(path) + file_length + 3);
  if (candidate == NULL) return ENOMEM;
  int result = ENOENT;
  int denied = 0;
  for (const char *dir = path;;) {
    const char *end = strchrnul(dir, ':');
    size_t dir_length = (size_t)(end - dir);
    if (dir_length == 0) {
      candidate[0] = '.';
      dir_length = 1;
    } else {
      memcpy(candidate, dir, dir_length);
    }
    candidate[dir_length] = '/';
    memcpy(candidate + dir_length + 1, file, file_length + 1);
    /* An absolute candidate that does not exist costs an access() here, not a vfork and an exec. */
    int skip = candidate[0] == '/' && access(candidate, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR);
    if (!skip) {
      int r = spawn_file(pid, candidate, actions, attr, argv, envp);
      if (r == 0) {
        result = 0;
        break;
      }
      if (r == EACCES) denied = 1;
      else if (r != ENOENT && r != ENOTDIR) {
        result = r;
        break;
      }
      /* A missing working directory fails every candidate the same way: stop at the first. */
      if (r == ENOENT && cwd != NULL && access(cwd, F_OK) != 0) break;
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  free(candidate);
  if (result == ENOENT && denied) result = EACCES;
  return result;
}

void jf_free_request(request_t *r) {
  free(r->file);
  free(r->cwd);
  jf_free_strings(r->argv);
  jf_free_strings(r->envp);
  r->file = r->cwd = NULL;
  r->argv = r->envp = NULL;
}

/* On the spawn thread: posix_spawn, then the child's ends of the pipes are closed. */
void jf_run_request(request_t *r) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (int i = 0; i < 3; i++) posix_spawn_file_actions_adddup2(&actions, r->child_fds[i], i);
  if (r->cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  r->error = spawn_in_path(&r->pid, r->file, &actions, &attr, r->argv, r->envp, r->cwd);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int i = 0; i < 3; i++) close(r->child_fds[i]);
}
