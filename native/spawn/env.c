/*
 * Part of the joinflow_spawn addon (registered in spawn.c): envStamp().
 */
#include <node_api.h>
#include <stdint.h>

extern char **environ;

/*
 * envStamp() -> a number that changes whenever this process's environment does: a 64-bit FNV-1a
 * hash of every "NAME=value" string of environ, in order, cut to the 53 bits a double holds
 * exactly. On the main thread Node's process.env reads and writes environ (getenv, setenv,
 * unsetenv), so an unchanged stamp means that a copy of process.env made earlier is still
 * exact, and the process executor need not read every variable again for each step it starts.
 * The strings are hashed, not their addresses: a C library may reuse a freed string's address
 * for a new value. About 2 KB of environment hash in a microsecond or two.
 */
napi_value EnvStamp(napi_env env, napi_callback_info info) {
  uint64_t h = 1469598103934665603ULL;
  for (char **e = environ; e != NULL && *e != NULL; e++) {
    for (const unsigned char *c = (const unsigned char *)*e; *c != 0; c++) {
      h ^= *c;
      h *= 1099511628211ULL;
    }
    /* The string's end: "A=bC=d" and "A=b" + "C=d" differ from "A=bC" + "=d". */
    h ^= 0xff;
    h *= 1099511628211ULL;
  }
  napi_value result;
  napi_create_double(env, (double)(h & ((1ULL << 53) - 1)), &result);
  return result;
}
