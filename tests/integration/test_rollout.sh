#!/usr/bin/env bash
# Staged rollout in sheetq enqueue: enabled rollout groups, the tenant
# allow-list and deny-list (deny wins), and --dry-run, which prints each
# target and writes nothing to the ledger or to Redis.
source "$(dirname "$0")/lib.sh"

load_schema
# Five tenants in three groups, one report each with a record in 2026-10.
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name, rollout_group) VALUES
  (1, 'One', 1), (2, 'Two', 1), (3, 'Three', 2), (4, 'Four', 3), (5, 'Five', 3);
INSERT INTO reports (id, tenant_id, name) VALUES
  (10, 1, 'Daily "checks"'), (20, 2, 'Two'), (30, 3, 'Three'), (40, 4, 'Four'), (50, 5, 'Five');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (100, 10, 1, 'T', 'number'), (200, 20, 1, 'T', 'number'), (300, 30, 1, 'T', 'number'),
  (400, 40, 1, 'T', 'number'), (500, 50, 1, 'T', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (10, '2026-10-02 08:00:00', 'a', '{"100": 1}'), (20, '2026-10-02 08:00:00', 'a', '{"200": 1}'),
  (30, '2026-10-02 08:00:00', 'a', '{"300": 1}'), (40, '2026-10-02 08:00:00', 'a', '{"400": 1}'),
  (50, '2026-10-02 08:00:00', 'a', '{"500": 1}');
SQL
queue_keys() { redis --scan --pattern "sheetq:{$T_QUEUE}:*" | wc -l; }
tenants_of() { # the tenants of a dry run's lines, in order
  sed -n 's/^tenant=\([0-9]*\) .*/\1/p' <<<"$1" | paste -sd, -
}

# Dry run with groups 1 and 3, tenant 3 (group 2) allowed, tenant 4 (group 3)
# denied, tenant 2 both allowed and denied: deny wins.
export SHEETQ_ROLLOUT_GROUPS=1,3 SHEETQ_TENANT_ALLOW=3,2 SHEETQ_TENANT_DENY=4,2
out=$(sq enqueue --period 2026-10 --dry-run) || fail "dry run failed: $out"
assert_eq "1,3,5" "$(tenants_of "$out")" "dry-run targets (groups 1,3 + allow 3 - deny 4,2)"
assert_contains "$out" 'tenant=1 report=10 period=2026-10 job=new name="Daily \"checks\""' "dry-run line"
assert_contains "$out" "left out 2 target(s) (2 denied, 0 in groups not enabled); 1 allow-listed" "rollout summary"
assert_contains "$out" "3 new job(s) would be submitted; nothing was written" "dry-run summary"
# Nothing written: no ledger tables at all, no Redis key of the queue.
assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$T_DB' AND table_name LIKE 'sheetq%'")" "ledger tables after a dry run"
assert_eq 0 "$(queue_keys)" "redis keys after a dry run"

# The same settings for real: exactly those three jobs, in the ledger and Redis.
out=$(sq enqueue --period 2026-10) || fail "enqueue failed: $out"
assert_contains "$out" "3 new job(s) submitted" "enqueue"
assert_eq "1,3,5" "$(sql "$T_DB" -e "SELECT GROUP_CONCAT(tenant_id ORDER BY tenant_id) FROM sheetq_jobs")" "jobs by tenant"
assert_eq 3 "$(redis GET "sheetq:{$T_QUEUE}:nready")" "ready jobs in redis"

# A dry run now reports them as queued, and still writes nothing.
keys_before=$(redis --scan --pattern "sheetq:{$T_QUEUE}:*" | sort | xargs -r "${T_REDIS[@]}" DUMP | md5sum)
sql "$T_DB" -e "UPDATE sheetq_jobs SET state = 'succeeded' WHERE tenant_id = 5"
before=$(sql "$T_DB" -e "SELECT COUNT(*), MAX(updated_at), GROUP_CONCAT(state ORDER BY id) FROM sheetq_jobs")
unset SHEETQ_TENANT_DENY
out=$(sq enqueue --period 2026-10 --dry-run --tenant-deny 4) || fail "dry run failed: $out"
assert_eq "1,2,3,5" "$(tenants_of "$out")" "dry run after tenant 2 left the deny-list"
assert_contains "$out" "tenant=1 report=10 period=2026-10 job=queued" "queued job"
assert_contains "$out" "tenant=2 report=20 period=2026-10 job=new" "new job"
assert_contains "$out" "tenant=5 report=50 period=2026-10 job=succeeded" "succeeded job"
assert_contains "$out" "1 new job(s) would be submitted" "dry-run summary"
assert_eq "$before" "$(sql "$T_DB" -e "SELECT COUNT(*), MAX(updated_at), GROUP_CONCAT(state ORDER BY id) FROM sheetq_jobs")" "ledger after the second dry run"
assert_eq 1 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_batches")" "batches after the second dry run"
assert_eq "$keys_before" "$(redis --scan --pattern "sheetq:{$T_QUEUE}:*" | sort | xargs -r "${T_REDIS[@]}" DUMP | md5sum)" "redis after the second dry run"

# Groups only: "none" enables no group, so only the allow-list goes.
unset SHEETQ_TENANT_ALLOW
out=$(SHEETQ_ROLLOUT_GROUPS=2 sq enqueue --period 2026-10 --dry-run)
assert_eq "3" "$(tenants_of "$out")" "group 2 only"
out=$(SHEETQ_ROLLOUT_GROUPS=none SHEETQ_TENANT_ALLOW=4 sq enqueue --period 2026-10 --dry-run)
assert_eq "4" "$(tenants_of "$out")" "no group, allow 4"
# A deny-list alone, from the config file; the default (all groups) otherwise.
unset SHEETQ_ROLLOUT_GROUPS
echo '{"tenant_deny": "1,5", "tenant_allow": "5"}' >"$T_DIR/rollout.json"
out=$(sq enqueue --period 2026-10 --dry-run --config "$T_DIR/rollout.json")
assert_eq "2,3,4" "$(tenants_of "$out")" "deny-list from a config file"
out=$(sq enqueue --period 2026-10 --dry-run)
assert_eq "1,2,3,4,5" "$(tenants_of "$out")" "default: every tenant"

# A custom target query gets the same rule: it cannot bypass the deny-list.
out=$(SHEETQ_TARGET_QUERY="SELECT tenant_id, id FROM reports ORDER BY id" SHEETQ_TENANT_DENY=3 \
      sq enqueue --period 2026-10 --dry-run)
assert_eq "1,2,4,5" "$(tenants_of "$out")" "custom query with a deny-list"

# Malformed lists are configuration errors (exit 2) naming the setting.
set +e
out=$(SHEETQ_ROLLOUT_GROUPS=1,x sq enqueue --period 2026-10 --dry-run 2>&1); rc=$?
set -e
assert_eq 2 "$rc" "exit status of a bad rollout_groups"
assert_contains "$out" "rollout_groups must be a comma-separated list" "bad rollout_groups"
# A schema without tenants.rollout_group: fine by default, a clear error
# once groups are enabled.
sql "$T_DB" -e "ALTER TABLE tenants DROP COLUMN rollout_group"
sq enqueue --period 2026-10 --dry-run >/dev/null || fail "dry run without rollout_group"
set +e
out=$(SHEETQ_ROLLOUT_GROUPS=1 sq enqueue --period 2026-10 --dry-run 2>&1); rc=$?
set -e
assert_eq 2 "$rc" "exit status without the rollout_group column"
assert_contains "$out" "rollout_groups needs tenants.rollout_group" "missing column"
echo "ok"
