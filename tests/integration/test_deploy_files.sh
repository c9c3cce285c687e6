#!/usr/bin/env bash
# test_deploy_files.sh - the files people run sheetq with (deploy/) are valid
# and agree with this sheetq binary. Needs no servers and no root.
#
#  - systemd: `systemd-analyze verify` on the units (a copy whose ExecStart
#    names SHEETQ_BIN: verify checks that the binary exists), no warning
#    allowed; the timer's OnCalendar, expanded by `systemd-analyze calendar`
#    for 13 elapses, falls on the 1st of 13 consecutive months at 00:05 in
#    Tokyo; the worker's stop timeout outlasts its shutdown grace;
#  - cron: the crontab's fields are in range, CRON_TZ=Asia/Tokyo, the
#    schedule is "5 0 1 * *", the command parses as sh; the alternative
#    for crons without CRON_TZ fires once a month, at 00:05 on the 1st in
#    Tokyo, on a host on UTC;
#  - env file: every SHEETQ_ variable is a setting of this sheetq, every
#    AWS_ one is documented, and sh can read it (the crontab sources it);
#  - Dockerfile: the runtime stage installs the package of every shared
#    library the binary needs, the build stage every -dev package of
#    scripts/setup.sh; non-root user, SIGTERM, ENTRYPOINT sheetq;
#    .dockerignore at the build context's root;
#  - Kubernetes (python3-yaml): CronJob schedule and time zone, Forbid;
#    terminationGracePeriodSeconds outlasts the worker's shutdown; the
#    KEDA ScaledObject targets the Deployment and watches keys of the
#    configured queue whose type its redis trigger can count; every Secret
#    and ConfigMap reference resolves;
#  - everywhere: the arguments given to sheetq (ExecStart, crontab, CMD,
#    container args) are accepted by this binary's option parser.
# `docker build` is not run here (no registry access in tests): see
# docs/deploy.md for the manual dry run.
set -euo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(cd "$TESTS_DIR/.." && pwd)
DEPLOY=$ROOT_DIR/deploy
PY=/usr/bin/python3

skip() {
  echo "skip: $*" >&2
  exit 77
}
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
[[ -n ${SHEETQ_BIN:-} && -x ${SHEETQ_BIN:-} ]] || skip "SHEETQ_BIN must name the sheetq binary"
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze not installed (package systemd, scripts/setup.sh)"
$PY -c 'import yaml' 2>/dev/null || skip "python3-yaml not installed (scripts/setup.sh)"

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-deploy.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT

# cli_accepts WHERE COMMAND ARGS...: this sheetq's option parser takes ARGS
# (it parses every option before a trailing --help, then prints the help),
# and none is a stray word: positional words are refused only after --help
# has been handled, so they are checked here against the help, where an
# option that takes a value shows "--name VALUE" or a SHEETQ_ variable.
cli_accepts() {
  local where=$1 command=$2 help a
  shift 2
  help=$("$SHEETQ_BIN" "$command" "$@" --help 2>"$T_DIR/cli.err") ||
    fail "$where: sheetq $command $* is rejected: $(<"$T_DIR/cli.err")"
  while (($#)); do
    a=$1
    shift
    [[ $a == --* ]] || fail "$where: stray argument '$a' in sheetq $command"
    if [[ $a != *=* ]] && grep -Eq -- "^  $a( [A-Z]| +SHEETQ_)" <<<"$help"; then
      (($#)) || fail "$where: $a needs a value"
      shift
    fi
  done
}
# The worker's --shutdown-grace default, and the 10 s it then gives job
# processes before SIGKILL (so.kill_grace_ms in cmd/worker.c).
default_grace=$("$SHEETQ_BIN" worker --help | sed -n 's/.*--shutdown-grace.*(default \([0-9]*\)).*/\1/p')
[[ $default_grace =~ ^[0-9]+$ ]] || fail "sheetq worker --help names no --shutdown-grace default"
KILL_GRACE=10
grace_of() { # grace_of ARGS...: the worker's shutdown grace with these args
  local prev=
  for a in "$@"; do
    [[ $prev == --shutdown-grace ]] && { echo "$a"; return; }
    prev=$a
  done
  echo "$default_grace"
}
# Settings this sheetq knows, by environment variable.
"$SHEETQ_BIN" worker --help | grep -o 'SHEETQ_[A-Z_]*' | sort -u >"$T_DIR/settings"
grep -o 'AWS_[A-Z0-9_]*' "$ROOT_DIR/docs/configuration.md" | sort -u >"$T_DIR/aws_settings"
[[ -s $T_DIR/settings && -s $T_DIR/aws_settings ]] || fail "cannot list the settings"
known_variable() { # known_variable NAME
  case $1 in
  SHEETQ_*) grep -qx "$1" "$T_DIR/settings" ;;
  AWS_*) grep -qx "$1" "$T_DIR/aws_settings" ;;
  *) return 1 ;;
  esac
}

# --- systemd -------------------------------------------------------------------

units=$T_DIR/units
mkdir "$units"
for f in "$DEPLOY"/systemd/*.service "$DEPLOY"/systemd/*.timer; do
  sed "s#/usr/local/bin/sheetq#$SHEETQ_BIN#g" "$f" >"$units/$(basename "$f")"
done
for u in sheetq-enqueue.service sheetq-enqueue.timer sheetq-worker@.service; do
  [[ -f $units/$u ]] || fail "deploy/systemd/$u missing"
done
(cd "$units" && systemd-analyze verify sheetq-enqueue.service sheetq-enqueue.timer \
  sheetq-worker@1.service) >"$T_DIR/verify.out" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$T_DIR/verify.out")"
[[ ! -s $T_DIR/verify.out ]] || fail "systemd-analyze verify warns: $(cat "$T_DIR/verify.out")"

unit_value() { # unit_value FILE KEY: the last value of KEY
  sed -n "s/^$2=//p" "$DEPLOY/systemd/$1" | tail -1
}
for u in sheetq-enqueue.service sheetq-worker@.service; do
  exec_start=$(unit_value "$u" ExecStart)
  read -r -a argv <<<"$exec_start"
  [[ ${argv[0]} == /usr/local/bin/sheetq ]] || fail "$u: ExecStart runs ${argv[0]}, not /usr/local/bin/sheetq"
  cli_accepts "$u" "${argv[@]:1}"
  [[ $(unit_value "$u" EnvironmentFile) == /etc/sheetq/sheetq.env ]] || fail "$u: EnvironmentFile is not /etc/sheetq/sheetq.env"
done
[[ $(unit_value sheetq-enqueue.service ExecStart) == *" enqueue --period last-month" ]] ||
  fail "sheetq-enqueue.service does not run enqueue --period last-month"
[[ $("$SHEETQ_BIN" enqueue --help) == *last-month* ]] || fail "sheetq enqueue does not know --period last-month"
read -r -a argv <<<"$(unit_value sheetq-worker@.service ExecStart)"
[[ ${argv[1]} == worker ]] || fail "sheetq-worker@.service does not run sheetq worker"
grace=$(grace_of "${argv[@]}")
stop=$(unit_value sheetq-worker@.service TimeoutStopSec)
[[ $stop =~ ^[0-9]+$ ]] || fail "sheetq-worker@.service: TimeoutStopSec '$stop' is not in seconds"
((stop > grace + KILL_GRACE)) || fail "sheetq-worker@.service: TimeoutStopSec=$stop does not outlast grace $grace s + ${KILL_GRACE} s"
[[ $(unit_value sheetq-worker@.service KillMode) == mixed ]] ||
  fail "sheetq-worker@.service: KillMode must be mixed (SIGTERM to the worker, not to its jobs)"
[[ $(unit_value sheetq-worker@.service KillSignal) == SIGTERM ]] || fail "sheetq-worker@.service: KillSignal is not SIGTERM"
[[ $(unit_value sheetq-worker@.service Restart) == on-failure ]] || fail "sheetq-worker@.service: Restart is not on-failure"
# A temporary failure (exit 75) is run again; a configuration error (2) is not.
for u in sheetq-worker@.service sheetq-enqueue.service; do
  [[ $(unit_value "$u" Restart) == on-failure ]] || fail "$u: Restart is not on-failure"
  [[ $(unit_value "$u" RestartPreventExitStatus) == 2 ]] || fail "$u: exit 2 (configuration) is restarted"
done
[[ $(unit_value sheetq-enqueue.timer Persistent) == true ]] || fail "sheetq-enqueue.timer: Persistent is not true"

# The timer: 13 elapses, each the 1st of the month at 00:05 in Tokyo.
calendar=$(unit_value sheetq-enqueue.timer OnCalendar)
TZ=UTC systemd-analyze calendar --iterations=13 "$calendar" >"$T_DIR/calendar.out" 2>&1 ||
  fail "systemd-analyze calendar '$calendar': $(cat "$T_DIR/calendar.out")"
$PY - "$T_DIR/calendar.out" <<'PY' || fail "the timer does not fire at 00:05 on the 1st in Tokyo: $(cat "$T_DIR/calendar.out")"
import datetime as dt, re, sys, zoneinfo
tokyo = zoneinfo.ZoneInfo('Asia/Tokyo')
text = open(sys.argv[1]).read()
when = [dt.datetime.strptime(m, '%Y-%m-%d %H:%M:%S').replace(tzinfo=dt.timezone.utc).astimezone(tokyo)
        for m in re.findall(r'(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC', text)]
assert len(when) == 13, 'expected 13 elapses, got %d' % len(when)
months = [(t.year, t.month) for t in when]
for t in when:
    assert (t.day, t.hour, t.minute, t.second) == (1, 0, 5, 0), t
for (y0, m0), (y1, m1) in zip(months, months[1:]):
    assert (y1 * 12 + m1) - (y0 * 12 + m0) == 1, months
print('timer: %s ... %s, 00:05 Asia/Tokyo on the 1st' % (when[0].date(), when[-1].date()))
PY

# --- env file --------------------------------------------------------------------

env_file=$DEPLOY/systemd/sheetq.env
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  [[ $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || fail "sheetq.env: not NAME=value: $line"
  known_variable "${BASH_REMATCH[1]}" || fail "sheetq.env: ${BASH_REMATCH[1]} is not a setting of this sheetq"
done <"$env_file"
# sh reads it as the crontab does, to the same values systemd would.
got=$(env -i sh -c 'set -a && . "$1" && set +a && echo "$SHEETQ_STORAGE_URL $SHEETQ_QUEUE"' sh "$env_file") ||
  fail "sh cannot read sheetq.env"
[[ $got == "$(sed -n 's/^SHEETQ_STORAGE_URL=//p' "$env_file") $(sed -n 's/^SHEETQ_QUEUE=//p' "$env_file")" ]] ||
  fail "sh reads sheetq.env differently: $got"

# --- cron ----------------------------------------------------------------------

$PY - "$DEPLOY/cron/sheetq.crontab" >"$T_DIR/cron.cmd" <<'PY' || fail "deploy/cron/sheetq.crontab is not right"
import datetime as dt, re, sys, zoneinfo

RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]

def values(field, lo, hi):
    out = set()
    for part in field.split(','):
        m = re.fullmatch(r'(\*|\d+(?:-\d+)?)(?:/(\d+))?', part)
        assert m, 'bad cron field %r' % field
        if m.group(1) == '*':
            a, b = lo, hi
        else:
            a, _, b = m.group(1).partition('-')
            a, b = int(a), int(b or a)
        step = int(m.group(2) or 1)
        assert lo <= a <= b <= hi and step > 0, 'field %r outside %d-%d' % (field, lo, hi)
        out.update(range(a, b + 1, step))
    return out

def parse(line):
    fields = line.split(None, 5)
    assert len(fields) == 6, 'not 5 fields and a command: %r' % line
    sets = [values(f, lo, hi) for f, (lo, hi) in zip(fields, RANGES)]
    cmd = fields[5]
    # An unescaped % ends the command in crontab syntax.
    assert not re.search(r'(?<!\\)%', cmd), 'unescaped %% in %r' % cmd
    assert 'sheetq enqueue --period last-month' in cmd, cmd
    return fields[:5], sets, cmd.replace('\\%', '%')

env, jobs, alternatives = {}, [], []
for raw in open(sys.argv[1]):
    line = raw.strip()
    if not line:
        continue
    if line.startswith('#'):
        if re.match(r'#\d', line):  # a commented-out alternative schedule
            alternatives.append(parse(line[1:]))
        continue
    m = re.fullmatch(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)', line)
    if m:
        assert not jobs, 'variable %s after the job line' % m.group(1)
        env[m.group(1)] = m.group(2)
    else:
        jobs.append(parse(line))
assert env.get('CRON_TZ') == 'Asia/Tokyo', env
assert len(jobs) == 1, '%d job lines' % len(jobs)
assert jobs[0][0] == ['5', '0', '1', '*', '*'], jobs[0][0]
assert len(alternatives) == 1, '%d alternative lines' % len(alternatives)

# The alternative, read by a cron on UTC: once a month, at 00:05 on the 1st
# in Tokyo (its guard compares the day in Tokyo with 01).
fields, (mins, hours, days, months, _), cmd = alternatives[0]
assert fields[4] == '*', 'day of week must be * (else cron ORs it with the day of month)'
assert '"$(TZ=Asia/Tokyo date +%d)" = 01' in cmd, cmd
tokyo = zoneinfo.ZoneInfo('Asia/Tokyo')
day = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
fired = []
while day.year < 2028:
    if day.day in days and day.month in months:
        for h in sorted(hours):
            for m in sorted(mins):
                local = day.replace(hour=h, minute=m).astimezone(tokyo)
                if local.day == 1:
                    fired.append(local)
    day += dt.timedelta(days=1)
# UTC days of 2026-2027: the 1sts in Tokyo from February 2026 to January 2028.
months = [(f.year, f.month) for f in fired]
assert months == [(2026 + (i + 1) // 12, (i + 1) % 12 + 1) for i in range(24)], months
assert all((f.hour, f.minute) == (0, 5) for f in fired), fired
print(jobs[0][2])
print(cmd)
PY
while IFS= read -r cmd; do
  sh -n -c "$cmd" || fail "the crontab command is not valid sh: $cmd"
  # sheetq's words: after its path, up to an operator or a redirection.
  args=$($PY -c 'import shlex, sys
w = list(shlex.shlex(sys.argv[1], posix=True, punctuation_chars=True))
w = w[w.index("/usr/local/bin/sheetq") + 1:]
n = next((i for i, t in enumerate(w) if set(t) <= set("|&;<>()")), len(w))
if n < len(w) and n > 0 and w[n - 1].isdigit() and w[n][0] in "<>":
    n -= 1
print(" ".join(w[:n]))' "$cmd")
  read -r -a argv <<<"$args"
  cli_accepts "sheetq.crontab" "${argv[@]}"
done <"$T_DIR/cron.cmd"

# --- Docker --------------------------------------------------------------------

[[ -f $ROOT_DIR/.dockerignore ]] || fail ".dockerignore is not at the build context's root"
for p in .git 'build*/'; do
  grep -qxF "$p" "$ROOT_DIR/.dockerignore" || fail ".dockerignore does not leave out $p"
done
# Packages of the shared libraries the binary needs (Debian's dpkg -S).
command -v objdump >/dev/null || skip "objdump not installed (binutils)"
objdump -p "$SHEETQ_BIN" | awk '/NEEDED/ {print $2}' >"$T_DIR/needed"
[[ -s $T_DIR/needed ]] || fail "objdump lists no shared library of $SHEETQ_BIN"
while read -r lib; do
  # The sanitizer build's runtimes are not the image's (a release build).
  [[ $lib =~ ^lib(a|ub|t|l|hwa)san\. ]] && continue
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}')
  [[ -n $path ]] || fail "$lib (needed by sheetq) not found by ldconfig"
  pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) ||
    fail "no Debian package holds $path"
  echo "${pkg%%:*}"
done <"$T_DIR/needed" | sort -u >"$T_DIR/runtime_packages"
sed -n '/^  # libraries/,/^  # servers/p' "$ROOT_DIR/scripts/setup.sh" | grep -v '#' |
  tr ' ' '\n' | grep -- '-dev$' | sort -u >"$T_DIR/dev_packages"
[[ -s $T_DIR/runtime_packages && -s $T_DIR/dev_packages ]] || fail "cannot list the packages sheetq needs"
$PY - "$DEPLOY/docker/Dockerfile" "$T_DIR/runtime_packages" "$T_DIR/dev_packages" \
  >"$T_DIR/docker.cmd" <<'PY' || fail "deploy/docker/Dockerfile is not right"
import json, re, sys
text = open(sys.argv[1]).read().replace('\\\n', ' ')
runtime_need = set(open(sys.argv[2]).read().split()) - {'libc6'}
dev_need = set(open(sys.argv[3]).read().split())
stages, cur = [], None
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith('#'):
        continue
    word, _, rest = line.partition(' ')
    if word.upper() == 'FROM':
        cur = {'from': rest.split()[0], 'lines': []}
        stages.append(cur)
    elif cur is not None:
        cur['lines'].append((word.upper(), rest.strip()))
assert len(stages) == 2, '%d stages' % len(stages)
build, run = stages
assert build['from'] == 'debian:bookworm', build['from']
assert run['from'] == 'debian:bookworm-slim', run['from']

def installed(stage):
    pkgs = set()
    for word, rest in stage['lines']:
        if word == 'RUN':
            for m in re.finditer(r'apt-get install ((?:[^&|;])*)', rest):
                pkgs.update(p for p in m.group(1).split() if not p.startswith('-'))
    return pkgs

missing = dev_need - installed(build)
assert not missing, 'build stage lacks %s' % sorted(missing)
missing = runtime_need - installed(run)
assert not missing, 'runtime stage lacks %s (libraries sheetq links)' % sorted(missing)
assert not any(p.endswith('-dev') for p in installed(run)), 'a -dev package in the runtime stage'
last = {}
for word, rest in run['lines']:
    last[word] = rest
assert last.get('STOPSIGNAL') == 'SIGTERM', last.get('STOPSIGNAL')
user = last.get('USER', 'root').split(':')[0]
assert user not in ('root', '0'), 'runs as root'
entry, cmd = json.loads(last['ENTRYPOINT']), json.loads(last['CMD'])
assert entry[-1] == '/usr/local/bin/sheetq', entry
assert any(w == 'COPY' and '/usr/local/bin/sheetq' in r and '--from=build' in r
           for w, r in run['lines']), 'the binary is not copied from the build stage'
print(user)
print(' '.join(cmd))
PY
docker_uid=$(sed -n 1p "$T_DIR/docker.cmd")
read -r -a argv <<<"$(sed -n 2p "$T_DIR/docker.cmd")"
cli_accepts "Dockerfile CMD" "${argv[@]}"

# --- Kubernetes ------------------------------------------------------------------

$PY - "$DEPLOY/kubernetes" "$ROOT_DIR/docs/architecture.md" "$default_grace" "$KILL_GRACE" \
  "$docker_uid" "$T_DIR/settings" "$T_DIR/aws_settings" >"$T_DIR/k8s.args" <<'PY' || fail "deploy/kubernetes is not right"
import glob, os, re, sys, urllib.parse
import yaml

root, arch, default_grace, kill_grace, uid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
known = set(open(sys.argv[6]).read().split()) | set(open(sys.argv[7]).read().split())
objs = {}
for path in sorted(glob.glob(os.path.join(root, '*.yaml'))):
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc.get('kind') != 'Kustomization':
            objs[(doc['kind'], doc['metadata']['name'])] = doc
kust = yaml.safe_load(open(os.path.join(root, 'kustomization.yaml')))
for r in kust['resources']:
    assert os.path.exists(os.path.join(root, r)), 'kustomization names a missing %s' % r

def one(kind):
    found = [o for (k, _), o in objs.items() if k == kind]
    assert len(found) == 1, '%d %s objects' % (len(found), kind)
    return found[0]

cm, secret = one('ConfigMap'), one('Secret')
cron, dep, so = one('CronJob'), one('Deployment'), one('ScaledObject')
settings = cm['data']
secret_keys = set(secret.get('stringData', {})) | set(secret.get('data', {}))
for name in settings:
    assert name in known, 'ConfigMap: %s is not a setting of this sheetq' % name

def check_pod(what, pod):
    assert str(pod['securityContext']['runAsUser']) == uid, '%s: runAsUser is not the image user %s' % (what, uid)
    assert pod['securityContext'].get('runAsNonRoot') is True, what
    (c,) = pod['containers']
    for ref in c.get('envFrom', []):
        assert ref['configMapRef']['name'] == cm['metadata']['name'], what
    for e in c.get('env', []):
        assert e['name'] in known, '%s: %s is not a setting of this sheetq' % (what, e['name'])
        ref = e.get('valueFrom', {}).get('secretKeyRef')
        if ref:
            assert ref['name'] == secret['metadata']['name'], '%s: unknown Secret %s' % (what, ref['name'])
            assert ref['key'] in secret_keys or ref.get('optional'), '%s: Secret has no key %s' % (what, ref['key'])
    assert c['securityContext'].get('allowPrivilegeEscalation') is False, what
    print(what + '\t' + ' '.join(c['args']))
    return c

# The monthly enqueue.
assert cron['apiVersion'] == 'batch/v1', cron['apiVersion']
spec = cron['spec']
assert spec['schedule'] == '5 0 1 * *', spec['schedule']
assert spec['timeZone'] == 'Asia/Tokyo', spec.get('timeZone')
assert spec['concurrencyPolicy'] == 'Forbid', spec.get('concurrencyPolicy')
c = check_pod('CronJob', spec['jobTemplate']['spec']['template']['spec'])
assert c['args'] == ['enqueue', '--period', 'last-month'], c['args']

# The workers: SIGTERM-friendly, sized like their vCPU share.
assert dep['apiVersion'] == 'apps/v1', dep['apiVersion']
pod = dep['spec']['template']['spec']
c = check_pod('Deployment', pod)
assert c['args'][0] == 'worker', c['args']
grace = default_grace
if '--shutdown-grace' in c['args']:
    grace = int(c['args'][c['args'].index('--shutdown-grace') + 1])
tgps = pod['terminationGracePeriodSeconds']
assert tgps > grace + kill_grace, 'terminationGracePeriodSeconds %d <= grace %d + %d' % (tgps, grace, kill_grace)
req = c['resources']['requests']
assert 'memory' in req and 'memory' in c['resources']['limits'], c['resources']
assert float(req['cpu']) == float(settings['SHEETQ_VCPUS']), 'cpu request %s, SHEETQ_VCPUS %s' % (req['cpu'], settings['SHEETQ_VCPUS'])
mounts = {m['mountPath'] for m in c.get('volumeMounts', [])}
assert settings['SHEETQ_TMPDIR'] in mounts, 'SHEETQ_TMPDIR is not a mounted volume (read-only root)'
sel = dep['spec']['selector']['matchLabels']
assert all(dep['spec']['template']['metadata']['labels'].get(k) == v for k, v in sel.items()), 'selector'

# One-off Jobs (migrate): the same pod rules.
for (kind, name), o in objs.items():
    if kind == 'Job':
        check_pod('Job ' + name, o['spec']['template']['spec'])

# KEDA: targets the Deployment; counts keys of the queue that its redis
# trigger can read (list, set, zset, hash: docs/architecture.md's table).
assert so['apiVersion'] == 'keda.sh/v1alpha1', so['apiVersion']
tgt = so['spec']['scaleTargetRef']
assert tgt['name'] == dep['metadata']['name'] and tgt.get('kind', 'Deployment') == 'Deployment', tgt
assert so['spec']['maxReplicaCount'] * float(settings['SHEETQ_VCPUS']) <= float(settings['SHEETQ_MAX_VCPUS']), \
    'maxReplicaCount x SHEETQ_VCPUS exceeds SHEETQ_MAX_VCPUS'
types = dict(re.findall(r'^\| `sheetq:\{q\}:([a-z_]+)` \| (\w+) \|', open(arch).read(), re.M))
assert types.get('tenants') == 'list', 'cannot read the key layout from docs/architecture.md'
redis_url = urllib.parse.urlparse(secret['stringData']['redis-url'])
watched = set()
for t in so['spec']['triggers']:
    assert t['type'] == 'redis', t['type']
    md = t['metadata']
    m = re.fullmatch(r'sheetq:\{([^}]*)\}:([a-z_]+)', md['listName'])
    assert m and m.group(1) == settings['SHEETQ_QUEUE'], '%s is not a key of queue %s' % (md['listName'], settings['SHEETQ_QUEUE'])
    assert types.get(m.group(2)) in ('list', 'set', 'zset', 'hash'), \
        '%s is a %s: KEDA cannot count it' % (md['listName'], types.get(m.group(2)))
    assert int(md['listLength']) > 0, md
    assert md['address'] == '%s:%d' % (redis_url.hostname, redis_url.port), 'trigger address %s, redis-url %s' % (md['address'], redis_url.netloc)
    assert md.get('databaseIndex', '0') == (redis_url.path.lstrip('/') or '0'), 'databaseIndex'
    auth = objs[('TriggerAuthentication', t['authenticationRef']['name'])]
    for ref in auth['spec']['secretTargetRef']:
        assert ref['name'] == secret['metadata']['name'] and ref['key'] in secret_keys, ref
    watched.add(m.group(2))
assert {'tenants', 'active'} <= watched, 'the ScaledObject watches %s' % sorted(watched)
PY
while IFS=$'\t' read -r what args; do
  read -r -a argv <<<"$args"
  cli_accepts "kubernetes $what" "${argv[@]}"
done <"$T_DIR/k8s.args"

echo "ok: deploy/ verified (systemd units and timer, crontab, env file, Dockerfile, Kubernetes and KEDA)"
