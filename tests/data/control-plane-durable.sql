BEGIN TRANSACTION;
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
INSERT INTO "api_keys" VALUES('e3b7e270-70ad-49ab-bdaf-fb8affc05c65','local','admin','f4a893aa19de072e91396a5462886280ba43b01f9790593d372423a64f447c2a',1.79620722105427503591e+09);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'ready',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (organization_id, name)
);
INSERT INTO "environments" VALUES('842f55b5-e72e-4d99-99d7-0d2091d8179a','local','default','Default','Default environment','[]','{}','ready',1.79620722105411863324e+09,1.79620722105411863324e+09);
CREATE TABLE legacy_migrations (
    environment_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    worker_queue_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_by TEXT,
    started_at REAL NOT NULL,
    completed_at REAL
);
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO "meta" VALUES('instance_id','d37821c3-77cc-4fc4-915b-78d37bd553be');
INSERT INTO "meta" VALUES('adoption_scanned_until','1796200000.0');
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
INSERT INTO "organizations" VALUES('local','local',1.79620722105411863324e+09);
CREATE TABLE task_requests (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    status_code INTEGER,
    answer TEXT,
    created_at REAL NOT NULL,
    UNIQUE (organization_id, queue_id, idempotency_key)
);
INSERT INTO "task_requests" VALUES('req-durable','local','6b39a0d7-a802-4d2f-9f22-9bf3b746e848','k-durable','f','boot-durable',503,'{"started":["task-durable-0","task-durable-1"]}',1.79620722105466580392e+09);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    timeout_seconds REAL NOT NULL,
    max_attempts INTEGER NOT NULL,
    submitted_at REAL NOT NULL
, state TEXT NOT NULL DEFAULT 'started', request_id TEXT, boot_id TEXT, start_error TEXT, verify_start INTEGER NOT NULL DEFAULT 0);
INSERT INTO "tasks" VALUES('task-durable-0','local','6b39a0d7-a802-4d2f-9f22-9bf3b746e848','sleep',3,60.0,1,1.79620722105466580392e+09,'started','req-durable','boot-durable',NULL,0);
INSERT INTO "tasks" VALUES('task-durable-1','local','6b39a0d7-a802-4d2f-9f22-9bf3b746e848','sleep',3,60.0,1,1.79620722105466580392e+09,'started','req-durable','boot-durable',NULL,0);
INSERT INTO "tasks" VALUES('task-durable-2','local','6b39a0d7-a802-4d2f-9f22-9bf3b746e848','sleep',3,60.0,1,1.79620722105466580392e+09,'not_started','req-durable','boot-durable','not started: fixture',0);
CREATE TABLE worker_queues (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    name TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    max_workers INTEGER,
    heartbeat_interval INTEGER NOT NULL DEFAULT 60,
    tags TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    task_queue_name TEXT NOT NULL,
    desired_workers INTEGER,
    autoscale TEXT,
    created_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (environment_id, name)
);
INSERT INTO "worker_queues" VALUES('6b39a0d7-a802-4d2f-9f22-9bf3b746e848','local','842f55b5-e72e-4d99-99d7-0d2091d8179a','dq','dq',NULL,'active',NULL,10,'[]','{}','local.default.dq',NULL,NULL,'admin',1.79620722105448079111e+09,1.79620722105448079111e+09,1);
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    queue_id TEXT,
    environment_id TEXT,
    legacy_queue_name TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    desired_state TEXT NOT NULL DEFAULT 'running',
    tasks_processed INTEGER NOT NULL DEFAULT 0,
    tasks_failed INTEGER NOT NULL DEFAULT 0,
    current_task_id TEXT,
    current_task_ids TEXT NOT NULL DEFAULT '[]',
    slots_used INTEGER,
    slots_available INTEGER,
    hostname TEXT,
    system_info TEXT,
    worker_metadata TEXT NOT NULL DEFAULT '{}',
    capabilities TEXT NOT NULL DEFAULT '{}',
    sdk_version TEXT,
    last_heartbeat REAL,
    registered_at REAL NOT NULL,
    disconnected_at REAL,
    disconnect_reason TEXT,
    exit_code INTEGER,
    error_message TEXT,
    UNIQUE (organization_id, worker_id)
);
CREATE INDEX workers_by_queue ON workers (queue_id, last_heartbeat);
CREATE INDEX tasks_by_queue ON tasks (queue_id, submitted_at);
CREATE INDEX audit_by_org ON audit (organization_id, id);
CREATE INDEX tasks_pending ON tasks (state) WHERE state = 'pending';
CREATE INDEX tasks_to_verify ON tasks (submitted_at) WHERE verify_start = 1;
CREATE INDEX tasks_by_request ON tasks (request_id);
CREATE INDEX task_requests_open ON task_requests (created_at) WHERE status_code IS NULL;
CREATE INDEX task_requests_by_age ON task_requests (created_at);
DELETE FROM "sqlite_sequence";
COMMIT;
