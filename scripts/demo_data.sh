#!/usr/bin/env bash
# demo_data.sh - fills a database with a deterministic, realistic demo dataset
# in the customer's schema (scripts/demo_schema.sql, applied first).
#
#   scripts/demo_data.sh [--tenants N] [--reports N] [--period YYYY-MM]
#                        [--scale F] [--seed S] [--jobs N] [--reset]
#                        [--items-min N] [--items-max N] [--max-records N]
#                        [--size-exponent E] [--] [mariadb options]
#
# Where: mariadb client options after the flags (e.g. -h 127.0.0.1 -P 3306
# -u root sheetq); without any, SHEETQ_MYSQL_URL is used
# (mysql://user[:password]@host[:port]/db[?socket=/path]). The tables must be
# empty unless --reset is given, which empties them first.
#
# Everything is generated server-side by a handful of INSERT ... SELECT
# statements (records by --jobs parallel sessions, default: one per CPU, via a
# scratch tables sheetq_demo_scratch and _values, dropped at the end); randomness is
# CRC32 of (seed, object, index) and record ids are explicit, so a seed always
# yields the same rows whatever order the server evaluates them in.
#
# What is in it (defaults: 20 tenants, 200 reports, last month, scale 1):
# - record counts per report follow a Zipf-like law (rank^-1.2 with jitter):
#   most reports get tens to hundreds of records, a few thousands to ~50,000;
#   about 200k records in all, times --scale; --size-exponent changes the
#   exponent (1.2), --max-records caps a report's count (see
#   bench/month_start.sh for a month-start peak of 2,000 reports);
# - 10-40 items per report (--items-min, --items-max; up to 96), every kind
#   in each report, positions with gaps and
#   item ids not in position order; Japanese labels and names, units (℃, kg,
#   %, ppm, 個) on most number items, one label with a newline in it;
# - about 3% of records fall in the neighbouring months, and in every report
#   (with 3+ records) one record sits exactly at the period's start (exported)
#   and one exactly at its end (not exported); some reports have records only
#   in neighbouring months;
# - non-targets despite having records: tenant 2 has export_enabled=0, reports
#   with id % 31 = 11 have export_schedule='none', id % 67 = 7 are archived;
# - messy values in ~3% of values: missing keys, null, numbers as strings,
#   wrong types, strings starting with '=', JSON escapes, emoji, unknown and
#   non-numeric item ids.
set -euo pipefail

die() {
  printf 'demo_data.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

tenants=20
reports=200
period=$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m)
scale=1
seed=1
reset=0
items_min=10
items_max=40
max_records=0
size_exponent=1.2
jobs=$(nproc 2>/dev/null || echo 2)
((jobs <= 8)) || jobs=8
client=()

while (($# > 0)); do
  case $1 in
  --tenants) tenants=${2:?--tenants needs a value}; shift 2 ;;
  --reports) reports=${2:?--reports needs a value}; shift 2 ;;
  --period) period=${2:?--period needs a value}; shift 2 ;;
  --scale) scale=${2:?--scale needs a value}; shift 2 ;;
  --seed) seed=${2:?--seed needs a value}; shift 2 ;;
  --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
  --reset) reset=1; shift ;;
  --items-min) items_min=${2:?--items-min needs a value}; shift 2 ;;
  --items-max) items_max=${2:?--items-max needs a value}; shift 2 ;;
  --max-records) max_records=${2:?--max-records needs a value}; shift 2 ;;
  --size-exponent) size_exponent=${2:?--size-exponent needs a value}; shift 2 ;;
  -h | --help) usage ;;
  --) shift; client+=("$@"); break ;;
  *) client+=("$1"); shift ;;
  esac
done

# Everything below is pasted into SQL, so it must be a plain number.
[[ $tenants =~ ^[1-9][0-9]{0,5}$ ]] || die "--tenants: expected 1..999999, got \"$tenants\""
[[ $reports =~ ^[1-9][0-9]{0,6}$ ]] || die "--reports: expected 1..9999999, got \"$reports\""
[[ $jobs =~ ^[1-9][0-9]?$ ]] || die "--jobs: expected 1..99, got \"$jobs\""
[[ $seed =~ ^[0-9]{1,9}$ ]] || die "--seed: expected a non-negative integer, got \"$seed\""
[[ $scale =~ ^([0-9]{1,4}(\.[0-9]{1,6})?|\.[0-9]{1,6})$ ]] ||
  die "--scale: expected a non-negative decimal such as 0.5 or 10, got \"$scale\""
[[ $items_min =~ ^[1-9][0-9]?$ && $items_max =~ ^[1-9][0-9]?$ ]] ||
  die "--items-min, --items-max: expected numbers 1..96, got $items_min and $items_max"
((items_min <= items_max && items_max <= 96)) ||
  die "--items-min, --items-max: expected 1 <= min <= max <= 96, got $items_min and $items_max"
[[ $max_records =~ ^[0-9]{1,9}$ ]] || die "--max-records: expected a non-negative integer (0: no cap), got \"$max_records\""
[[ $size_exponent =~ ^[0-9](\.[0-9]{1,3})?$ ]] ||
  die "--size-exponent: expected a decimal such as 1.2, got \"$size_exponent\""
[[ $period =~ ^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$ ]] ||
  die "--period: expected YYYY-MM, got \"$period\""
command -v mariadb >/dev/null 2>&1 || die "mariadb client not found (apt-get install -y mariadb-client)"

# Client options from SHEETQ_MYSQL_URL when none were given. The password
# travels in MYSQL_PWD, never on the command line.
urldecode() {
  local s=${1//\\/\\\\}
  printf '%b' "${s//%/\\x}"
}
if ((${#client[@]} == 0)); then
  url=${SHEETQ_MYSQL_URL:-}
  [[ -n $url ]] || die "no database: pass mariadb options (e.g. -h 127.0.0.1 -P 3306 -u root DB) or set SHEETQ_MYSQL_URL"
  re='^mysql://([^:@/]*)(:([^@/]*))?@([^:/?]*)(:([0-9]+))?/([^?]+)(\?socket=(.+))?$'
  [[ $url =~ $re ]] || die "SHEETQ_MYSQL_URL: expected mysql://user[:password]@host[:port]/db[?socket=/path]"
  client=(-u "$(urldecode "${BASH_REMATCH[1]}")")
  if [[ -n ${BASH_REMATCH[2]} ]]; then
    MYSQL_PWD=$(urldecode "${BASH_REMATCH[3]}")
    export MYSQL_PWD
  fi
  if [[ -n ${BASH_REMATCH[9]} ]]; then
    client+=(--socket="${BASH_REMATCH[9]}")
  else
    client+=(-h "${BASH_REMATCH[4]}" -P "${BASH_REMATCH[6]:-3306}" --protocol=tcp)
  fi
  client+=("${BASH_REMATCH[7]}")
fi

sql() { mariadb --default-character-set=utf8mb4 --batch --skip-column-names "${client[@]}" "$@"; }

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sql <"$here/demo_schema.sql" || die "could not apply demo_schema.sql"

n_rows=$(sql -e "SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM reports)
  + (SELECT COUNT(*) FROM report_items) + (SELECT COUNT(*) FROM records)")
if ((n_rows > 0)); then
  ((reset)) || die "the database already holds data ($n_rows rows); use --reset to empty tenants, reports, report_items and records first"
  sql -e "TRUNCATE TABLE records; TRUNCATE TABLE report_items; TRUNCATE TABLE reports; TRUNCATE TABLE tenants" ||
    die "could not empty the tables"
fi

t0=$(date +%s.%N)

# The generator, in three parts: setup (tenants, reports, items and one row
# per record to be, in a scratch table), values (the records' JSON, the bulk
# of the work, in --jobs parallel sessions over disjoint id ranges), records
# and summary (records get explicit ids, so the result does not depend on
# scheduling). Every session starts with $vars and $params. R, a per-value
# random 32-bit number, is CRC32(record hash/item id).
params=$(cat <<'SQL'
SET NAMES utf8mb4;
SET SESSION max_recursive_iterations = 100000000, SESSION group_concat_max_len = 1048576;
SET @ps := CAST(CONCAT(@period, '-01 00:00:00') AS DATETIME);
SET @pe := CAST(@ps AS DATETIME) + INTERVAL 1 MONTH;
SET @pp := CAST(@ps AS DATETIME) - INTERVAL 1 MONTH;
SET @secs := TIMESTAMPDIFF(SECOND, @ps, @pe), @prev_secs := TIMESTAMPDIFF(SECOND, @pp, @ps);
SQL
)

setup=$(cat <<'SQL'
INSERT INTO tenants (id, name, rollout_group, export_enabled)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < @tenants)
SELECT n,
       CONCAT(ELT(1 + (n - 1) % 12, '株式会社さくら食品', 'Acme Foods Ltd.', '東京セントラルキッチン',
                  '北海道デイリー株式会社', 'みどり介護サービス', 'Blue Harbor Logistics',
                  '大阪精密工業', 'こもれび保育園', 'O''Brien & Sons', '山田製作所',
                  'Nordic Bakery AB', '医療法人 あおば会'),
              IF(n > 12, CONCAT(' ', n), '')),
       1 + CRC32(CONCAT(@seed, '/rollout/', n)) % 3,
       n <> 2
FROM seq;

INSERT INTO reports (id, tenant_id, name, export_schedule, archived_at)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < @reports)
SELECT n, 1 + (n - 1) % @tenants,
       CONCAT(ELT(1 + CRC32(CONCAT(@seed, '/report/', n)) % 14,
                  '衛生チェック', '温度記録', '日次点検表', '受入検査記録', '出荷前チェック',
                  '清掃記録', 'HACCP 記録表', '冷蔵庫・冷凍庫温度管理', 'Daily hygiene check',
                  'Forklift inspection', 'Cold storage log', '設備点検（月次）',
                  '検温・体調チェック', 'Incoming goods / 入荷'),
              ' - ',
              ELT(1 + CRC32(CONCAT(@seed, '/site/', n)) % 8,
                  '本店', '第2工場', 'Osaka DC', 'ライン A', '厨房', 'Warehouse 3', '新宿店',
                  '"East" wing')),
       IF(n % 31 = 11, 'none', 'monthly'),
       IF(n % 67 = 7, CAST(@ps AS DATETIME) - INTERVAL 20 DAY, NULL)
FROM seq;

-- Positions 10, 20, ...; ids r*100 + (7p mod M), M a prime above
-- @items_max (41 by default), a permutation of 1..M-1, so id order differs
-- from position order. Positions 1-5 take one kind each.
INSERT INTO report_items (id, report_id, position, label, kind, unit)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < @items_max)
SELECT id, report_id, position,
       CASE kind
         WHEN 'number' THEN ELT(1 + lh % 12, '温度', '中心温度', '冷蔵庫温度', '湿度', '重量',
                                '入荷量', '塩分濃度', 'pH', 'Temperature', 'Count', '残留塩素', '個数')
         WHEN 'text' THEN ELT(1 + lh % 8, '点検者', '備考', '異常内容', '対応内容', 'Comment',
                              'ロット番号', '確認者', 'コメント\n（任意）')
         WHEN 'choice' THEN ELT(1 + lh % 6, '判定', '天候', '状態', '清掃状況', 'Result', 'ライン')
         WHEN 'boolean' THEN ELT(1 + lh % 5, '手洗い実施', '異常なし', '消毒済み', 'Gloves worn', '承認')
         ELSE ELT(1 + lh % 5, '確認日時', '入荷日時', '出荷時刻', '測定時刻', 'Checked at')
       END,
       kind,
       IF(kind = 'number', ELT(1 + lh % 12, '℃', '℃', '℃', '%', 'kg', 'kg', '%', NULL, '℃',
                               NULL, 'ppm', '個'), NULL)
FROM (
  SELECT r.id * 100 + (s.n * 7) % @items_mod AS id, r.id AS report_id, s.n * 10 AS position,
         CRC32(CONCAT(@seed, '/label/', r.id, '/', s.n)) AS lh,
         IF(s.n <= 5, ELT(1 + (s.n + r.id) % 5, 'text', 'number', 'datetime', 'boolean', 'choice'),
            ELT(1 + INTERVAL(CRC32(CONCAT(@seed, '/kind/', r.id, '/', s.n)) % 20, 7, 11, 14, 17),
                'number', 'text', 'choice', 'boolean', 'datetime')) AS kind
  FROM reports r
  JOIN seq s ON s.n <= @items_min + CRC32(CONCAT(@seed, '/items/', r.id)) % (@items_max - @items_min + 1)
) AS i;

-- How many records each report gets (capped at @max_records unless 0);
-- mode 1: only in neighbouring months.
CREATE TEMPORARY TABLE demo_plan (
  report_id BIGINT UNSIGNED PRIMARY KEY, n INT NOT NULL, mode TINYINT NOT NULL);
INSERT INTO demo_plan (report_id, n, mode)
SELECT id,
       LEAST(IF(@max_records > 0, @max_records, 2147483647),
             GREATEST(1, ROUND(@scale * 50000 * POW(rnk, -@size_exponent)
                               * (0.5 + CRC32(CONCAT(@seed, '/jitter/', id)) % 1000 / 1000)))),
       id % 53 = 13
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY CRC32(CONCAT(@seed, '/rank/', id)), id) AS rnk
      FROM reports) AS ranked;

CREATE TEMPORARY TABLE demo_seq (n INT PRIMARY KEY);
SET @max_n := (SELECT MAX(n) FROM demo_plan);
INSERT INTO demo_seq (n)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < @max_n)
SELECT n FROM seq;

-- Record skeletons, materialised so that h is computed once per record and
-- parallel sessions can share them. id is the future records.id: in time
-- order across reports, as rows arrive in a live system, except 1% entered
-- three days late.
DROP TABLE IF EXISTS sheetq_demo_scratch, sheetq_demo_values;
CREATE TABLE sheetq_demo_values (id BIGINT UNSIGNED PRIMARY KEY, v LONGTEXT NOT NULL)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE sheetq_demo_scratch (
  id BIGINT UNSIGNED PRIMARY KEY, report_id BIGINT UNSIGNED NOT NULL, h BIGINT UNSIGNED NOT NULL,
  at DATETIME NOT NULL, who VARCHAR(64) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO sheetq_demo_scratch (id, report_id, h, at, who)
SELECT ROW_NUMBER() OVER (ORDER BY at + INTERVAL IF(h % 100 = 1, 3, 0) DAY, report_id, n),
       report_id, h, at, who
FROM (
  SELECT report_id, n, h,
         CASE
           WHEN mode = 0 AND n = 1 THEN CAST(@ps AS DATETIME)
           WHEN mode = 0 AND n = 2 THEN CAST(@pe AS DATETIME)
           WHEN mode = 0 AND n = 3 THEN CAST(@pe AS DATETIME) - INTERVAL 1 SECOND
           WHEN mode = 1 OR h % 1000 < 30 THEN
             IF(h % 2 = 0,
                CAST(@ps AS DATETIME) - INTERVAL (1 + (h DIV 1000) % @prev_secs) SECOND,
                CAST(@pe AS DATETIME) + INTERVAL ((h DIV 1000) % 864000) SECOND)
           ELSE CAST(@ps AS DATETIME) + INTERVAL ((h DIV 1000) % @secs) SECOND
         END AS at,
         ELT(1 + (h DIV 7) % 10, '佐藤 花子', '鈴木 一郎', '高橋 健', 'tanaka@example.com',
             'John Smith', 'ｻﾄｳ ﾀﾛｳ', '山本', 'María García', 'O''Neil', '渡辺 美咲') AS who
  FROM (SELECT p.report_id, s.n, p.mode,
               CRC32(CONCAT(@seed, '/record/', p.report_id, '/', s.n)) AS h
        FROM demo_plan p JOIN demo_seq s ON s.n <= p.n) AS k
) AS skeleton;
SELECT COUNT(*) FROM sheetq_demo_scratch;
SQL
)

# The values of the records with ids in [@lo, @hi], into sheetq_demo_values:
# a table without AUTO_INCREMENT, so that parallel INSERT ... SELECTs do not
# queue on InnoDB's table-level AUTO-INC lock as they would on records.
values=$(cat <<'SQL'
-- Values: each item is normal ~97% of the time; otherwise missing, null or
-- of a wrong shape (INTERVAL picks the branch, ELT evaluates only that one).
INSERT INTO sheetq_demo_values (id, v)
SELECT x.id,
  CONCAT('{', CONCAT_WS(', ',
    (SELECT GROUP_CONCAT(CONCAT('"', i.id, '": ', CASE i.kind + 0  -- ENUM index: 1 text, 2 number, 3 datetime, 4 boolean, 5 choice
       WHEN 2 THEN ELT(1 + INTERVAL(CRC32(CONCAT(x.h, '/', i.id)) % 1000, 970, 980, 990, 995, 998),
         IF(i.position % 30 = 0,
            CAST(CAST((CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 101 AS SIGNED) - 20 AS CHAR),
            CAST((CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 1001 * 0.1 - 20 AS CHAR)),
         NULL, 'null',
         CONCAT('"', (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 1001 * 0.1 - 20, '"'),
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 3, '"n/a"', '"２３．５"', '" 12,5 "'),
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 3, 'true', '1e3', '[1, 2]'))
       WHEN 1 THEN ELT(1 + INTERVAL(CRC32(CONCAT(x.h, '/', i.id)) % 1000, 970, 980, 988, 994, 997),
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 10, '"問題なし"',
             '"異常なし。引き続き監視します。"', '"OK"', '"要再確認（午後に再測定）"',
             '"1行目\\n2行目"', '"\\u6e29\\u5ea6\\u78ba\\u8a8d"', '"✅ 問題なし 👍"',
             '"Tab\\there"', '"特記事項なし"', '"LOT-2024-0815"'),
         NULL, 'null',
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 4, '"=SUM(A1:A3)"',
             '"=HYPERLINK(\\"http://example.com\\",\\"詳細\\")"', '"+81 3-1234-5678"', '"@admin"'),
         '""', '42')
       WHEN 5 THEN ELT(1 + INTERVAL(CRC32(CONCAT(x.h, '/', i.id)) % 1000, 970, 980, 990, 995),
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 8, '"OK"', '"OK"', '"OK"', '"NG"',
             '"要確認"', '"A"', '"B"', '"晴れ"'),
         NULL, 'null', '["A", "B"]', '"=1+1"')
       WHEN 4 THEN ELT(1 + INTERVAL(CRC32(CONCAT(x.h, '/', i.id)) % 1000, 970, 980, 990, 995),
         IF((CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 10 < 9, 'true', 'false'),
         NULL, 'null', '"yes"',
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 3, '1', '0', '"true"'))
       ELSE ELT(1 + INTERVAL(CRC32(CONCAT(x.h, '/', i.id)) % 1000, 970, 980, 990, 995),
         CONCAT('"', DATE_FORMAT(x.at - INTERVAL ((CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 720) MINUTE,
                                 ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000000) % 4,
                                     '%Y-%m-%dT%H:%i:%s+09:00', '%Y-%m-%dT%H:%i:%sZ',
                                     '%Y-%m-%dT%H:%i:%s', '%Y-%m-%d')), '"'),
         NULL, 'null',
         ELT(1 + (CRC32(CONCAT(x.h, '/', i.id)) DIV 1000) % 4, '"2024/10/03 8:15"', '"昨日の朝"',
             '"2024-02-30T10:00:00"', '""'),
         '1727900000')
       END) ORDER BY i.position SEPARATOR ', ')
     FROM report_items i WHERE i.report_id = x.report_id),
    IF(x.h % 97 = 5, '"999999": "unknown item"', NULL),
    IF(x.h % 211 = 7, '"note": 1', NULL)), '}')
FROM sheetq_demo_scratch x
WHERE x.id BETWEEN @lo AND @hi
ORDER BY x.id;
SQL
)

summary=$(cat <<'SQL'
INSERT INTO records (id, report_id, recorded_at, recorded_by, `values`)
SELECT x.id, x.report_id, x.at, x.who, v.v
FROM sheetq_demo_scratch x JOIN sheetq_demo_values v ON v.id = x.id
ORDER BY x.id;
DROP TABLE sheetq_demo_scratch, sheetq_demo_values;
SELECT CONCAT(
  (SELECT COUNT(*) FROM tenants), ' tenants, ',
  (SELECT COUNT(*) FROM reports), ' reports, ',
  (SELECT COUNT(*) FROM reports r JOIN tenants t ON t.id = r.tenant_id
   WHERE r.export_schedule = 'monthly' AND r.archived_at IS NULL AND t.export_enabled
     AND EXISTS (SELECT 1 FROM records x WHERE x.report_id = r.id
                 AND x.recorded_at >= @ps AND x.recorded_at < @pe)), ' targets for ', @period, ', ',
  (SELECT COUNT(*) FROM report_items), ' items, ',
  (SELECT COUNT(*) FROM records), ' records (',
  (SELECT COUNT(*) FROM records WHERE recorded_at >= @ps AND recorded_at < @pe), ' in ', @period, ')');
SQL
)

items_mod=41
((items_max < 41)) || items_mod=61
((items_max < 61)) || items_mod=97
vars=$(printf "SET @seed := %s, @tenants := %s, @reports := %s, @scale := %s, @period := '%s';" \
  "$seed" "$tenants" "$reports" "$scale" "$period")
vars+=$(printf " SET @items_min := %s, @items_max := %s, @items_mod := %s, @max_records := %s, @size_exponent := %s;" \
  "$items_min" "$items_max" "$items_mod" "$max_records" "$size_exponent")

# The scratch tables must not outlive a failed run.
cleanup() { sql -e "DROP TABLE IF EXISTS sheetq_demo_scratch, sheetq_demo_values" >/dev/null 2>&1 || true; }
trap cleanup EXIT

n_records=$(printf '%s\n%s\n%s\n' "$vars" "$params" "$setup" | sql) || die "loading failed"

chunk=$(((n_records + jobs - 1) / jobs))
pids=()
for ((j = 0; j < jobs; j++)); do
  lo=$((j * chunk + 1))
  hi=$(((j + 1) * chunk))
  ((lo <= n_records)) || break
  printf '%s\n%s\nSET @lo := %s, @hi := %s;\n%s\n' "$vars" "$params" "$lo" "$hi" "$values" |
    sql &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
((failed == 0)) || die "loading records failed"

summary=$(printf '%s\n%s\n%s\n' "$vars" "$params" "$summary" | sql) || die "summary query failed"

t1=$(date +%s.%N)
printf 'demo_data: %s; seed %s, scale %s, loaded in %.1f s\n' "$summary" "$seed" "$scale" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
