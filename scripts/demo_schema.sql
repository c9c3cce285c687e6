-- demo_schema.sql - the customer's schema, as sheetq expects to find it.
--
-- sheetq only reads these tables; this file exists to build demo and test
-- databases (scripts/demo_data.sh, tests/integration). Safe to re-run.
SET NAMES utf8mb4;

CREATE TABLE IF NOT EXISTS tenants (
  id BIGINT UNSIGNED PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  rollout_group TINYINT UNSIGNED NOT NULL DEFAULT 1,
  export_enabled BOOLEAN NOT NULL DEFAULT TRUE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS reports (
  id BIGINT UNSIGNED PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(255) NOT NULL,
  export_schedule ENUM('none','monthly') NOT NULL DEFAULT 'monthly',
  archived_at DATETIME NULL,
  KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS report_items (
  id BIGINT UNSIGNED PRIMARY KEY,
  report_id BIGINT UNSIGNED NOT NULL,
  position INT NOT NULL,
  label VARCHAR(255) NOT NULL,
  kind ENUM('text','number','datetime','boolean','choice') NOT NULL,
  unit VARCHAR(32) NULL,
  UNIQUE KEY (report_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- values: {"<report_items.id>": value, ...}; a value may be missing or null.
CREATE TABLE IF NOT EXISTS records (
  id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
  report_id BIGINT UNSIGNED NOT NULL,
  recorded_at DATETIME NOT NULL,
  recorded_by VARCHAR(255) NOT NULL,
  `values` JSON NOT NULL,
  KEY (report_id, recorded_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
