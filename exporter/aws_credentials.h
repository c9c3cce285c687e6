/* aws_credentials.h - where the S3 backend's AWS credentials come from, as
 * the AWS SDKs find them (a subset of their default chain, in their order):
 *
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): used
 *      as they are, never refreshed.
 *   2. The ECS/Fargate container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (fetched from http://169.254.170.2<uri>) or, failing that,
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI (https to any host; plain http only
 *      to a loopback address or the ECS/EKS link-local hosts), with the
 *      Authorization header read from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *      (re-read at every fetch: it is rotated) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *      Temporary keys are cached and fetched again SQ_AWS_REFRESH_BEFORE
 *      seconds before they expire; if that fetch fails while the old keys
 *      are still valid, the old keys go on being used.
 *
 * Not supported: shared config/credentials files and profiles, web
 * identity, the EC2 instance metadata service.
 *
 * A source is used by one thread at a time. Keys and tokens live only in
 * memory owned by the source, are wiped when freed, and never appear in a
 * message.
 */
#ifndef SQ_AWS_CREDENTIALS_H
#define SQ_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/error.h"
#include "core/http.h"

#define SQ_AWS_REFRESH_BEFORE 300 /* seconds */
#define SQ_AWS_CONTAINER_HOST "169.254.170.2"

typedef struct sq_aws_credentials {
  char *access_key_id;
  char *secret_access_key;
  char *session_token; /* NULL: none */
  time_t expiration;   /* 0: does not expire */
} sq_aws_credentials;

/* The environment variables the chain reads (NULL or "" when unset),
 * gathered in one place so tests can pass their own. */
typedef struct sq_aws_credential_env {
  const char *access_key_id;          /* AWS_ACCESS_KEY_ID */
  const char *secret_access_key;      /* AWS_SECRET_ACCESS_KEY */
  const char *session_token;          /* AWS_SESSION_TOKEN */
  const char *container_relative_uri; /* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI */
  const char *container_full_uri;     /* AWS_CONTAINER_CREDENTIALS_FULL_URI */
  const char *container_token;        /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
  const char *container_token_file;   /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE */
} sq_aws_credential_env;

typedef struct sq_aws_credential_source sq_aws_credential_source;

/* Fills e from getenv(); the pointers are the environment's. */
void sq_aws_credential_env_read(sq_aws_credential_env *e);

/* Chooses the first source that is configured (it copies what it needs
 * from env). SQ_ECONFIG when none is, when only one of the key pair is set,
 * or when the container URL is not allowed. Nothing is fetched yet. */
sq_aws_credential_source *sq_aws_credentials_open(const sq_aws_credential_env *env,
                                                  sq_err *err);
void sq_aws_credentials_free(sq_aws_credential_source *s); /* NULL is fine */

/* Valid credentials at time now, fetching them (through http) when there
 * are none yet or they expire within SQ_AWS_REFRESH_BEFORE seconds. *out
 * stays owned by s and valid until the next call on s. Errors: SQ_ESTORAGE
 * (endpoint unreachable or answering 5xx or garbage: temporary),
 * SQ_ESTORAGE_DENIED (the endpoint refused: 4xx), SQ_EIO (token file). */
sq_errcode sq_aws_credentials_get(sq_aws_credential_source *s, sq_http *http, time_t now,
                                  const sq_aws_credentials **out, sq_err *err);

/* The store rejected the keys as expired: drop the cached ones. True when a
 * new fetch may bring different keys (container), false for static keys. */
bool sq_aws_credentials_invalidate(sq_aws_credential_source *s);

/* "environment" or "container endpoint <host>", for logs. */
const char *sq_aws_credentials_describe(const sq_aws_credential_source *s);

/* ---- Pure parts, exposed for tests ------------------------------------ */

/* Parses the container endpoint's JSON answer ({"AccessKeyId",
 * "SecretAccessKey", "Token", "Expiration"}) into out (fields malloc'd; free
 * with sq_aws_credentials_clear()). SQ_ESTORAGE when a field is missing or
 * malformed; the message never quotes a value. */
sq_errcode sq_aws_credentials_parse(const char *json, size_t len, sq_aws_credentials *out,
                                    sq_err *err);
void sq_aws_credentials_clear(sq_aws_credentials *c); /* wipes and frees fields */

/* True when c must be fetched again at time now. */
bool sq_aws_credentials_expiring(const sq_aws_credentials *c, time_t now);

/* "2019-03-13T19:47:32Z" (fraction and "+00:00" accepted) -> *out. */
bool sq_aws_parse_time(const char *s, time_t *out);

/* Whether a container credentials URL may be used: https anywhere; http
 * only to 127.0.0.0/8, ::1, localhost, 169.254.170.2, 169.254.170.23,
 * fd00:ec2::23. SQ_ECONFIG with the reason otherwise. */
sq_errcode sq_aws_container_url_check(const char *url, sq_err *err);

#endif
