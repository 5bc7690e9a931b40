BEGIN TRANSACTION;
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
INSERT INTO "api_keys" VALUES('1a878a24-e15e-4c2c-a654-99e169fcbc36','local','admin','b2bbe7b1b2cf2eaa86531abac6aa13cb37418a82e439a3930047e9b4169ebc9e',1.79619889848487186432e+09);
INSERT INTO "api_keys" VALUES('52b9951b-32cc-4d78-a66f-0918c989f898','acme','acme-key','551b707946037e1a03fcf44beec7dba3d2ef6f8ded3c318b71839d3a1b8f1fd4',1.79619889920087695122e+09);
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
INSERT INTO "audit" VALUES(1,'local','admin','environment.create','environment','ba0219ca-76d1-486c-8faa-4d7a89561847','{"name":"prod"}',1.79619889885629320145e+09);
INSERT INTO "audit" VALUES(2,'local','admin','queue.create','worker_queue','c614bc7a-a7fc-489a-8ba8-5f880e3df771','{"name":"gpu","environment":"prod"}',1.796198898879196167e+09);
INSERT INTO "audit" VALUES(3,'local','admin','queue.create','worker_queue','48434e6c-afa8-4798-9e8c-82dd91472e61','{"name":"cpu","environment":"prod"}',1.79619889888163805006e+09);
INSERT INTO "audit" VALUES(4,'local','admin','queue.create','worker_queue','12c9cdd1-922e-40de-8892-a433989e38f3','{"name":"default","environment":"default"}',1.79619889888337135311e+09);
INSERT INTO "audit" VALUES(5,'local','admin','queue.update','worker_queue','48434e6c-afa8-4798-9e8c-82dd91472e61','{"changes":["description","status"]}',1.79619889888811802864e+09);
INSERT INTO "audit" VALUES(6,'local','admin','queue.scale','worker_queue','c614bc7a-a7fc-489a-8ba8-5f880e3df771','{"name":"gpu","from":null,"to":3,"reason":"fixture"}',1.79619889889014554022e+09);
INSERT INTO "audit" VALUES(7,'local','admin','queue.autoscale','worker_queue','c614bc7a-a7fc-489a-8ba8-5f880e3df771','{"policy":{"min_workers":1,"max_workers":4,"target_backlog_age_seconds":20.0,"cooldown_seconds":30}}',1.79619889889634084699e+09);
INSERT INTO "audit" VALUES(8,'local','admin','worker.start','worker','4850466e-e58e-4090-ace2-9f505f326728','{"queue":"gpu"}',1.79619889890934205049e+09);
INSERT INTO "audit" VALUES(9,'local','admin','worker.start','worker','8a171f03-f804-4b42-a66c-07fcbe9651ce','{"queue":"gpu"}',1.79619889891518497463e+09);
INSERT INTO "audit" VALUES(10,'local','admin','worker.start','worker','86aae72f-ffd0-497c-9f43-75bdab90eb6c','{"queue":"default"}',1.79619889891738080973e+09);
INSERT INTO "audit" VALUES(11,'local','admin','worker.drain','worker','8a171f03-f804-4b42-a66c-07fcbe9651ce','{"queue":"gpu"}',1.79619889892375636094e+09);
INSERT INTO "audit" VALUES(12,'local','admin','worker.disconnect','worker','86aae72f-ffd0-497c-9f43-75bdab90eb6c','{"reason":"shutdown"}',1.7961988989254596233e+09);
INSERT INTO "audit" VALUES(13,'local','admin','worker.register','worker','legacy-1','{"task_queue":"local.default"}',1.79619889893380880359e+09);
INSERT INTO "audit" VALUES(14,'local','admin','task_queue.migrate','task_queue','ba0219ca-76d1-486c-8faa-4d7a89561847','{"name":"prod","worker_queue":"prod-migrated","environment":"default"}',1.79619889897398185727e+09);
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
INSERT INTO "environments" VALUES('a24d9fa3-bc8d-4288-9e90-74552edee6db','local','default','Default','Default environment','[]','{}','ready',1.79619889848466920845e+09,1.79619889848466920845e+09);
INSERT INTO "environments" VALUES('ba0219ca-76d1-486c-8faa-4d7a89561847','local','prod','prod',NULL,'["eu"]','{"region":"eu-west"}','ready',1.79619889885589289666e+09,1.79619889885589289666e+09);
INSERT INTO "environments" VALUES('541a1d92-b0ca-42b0-93cc-5749413d1214','acme','default','Default','Default environment','[]','{}','ready',1.79619889920060467718e+09,1.79619889920060467718e+09);
CREATE TABLE legacy_migrations (
    environment_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    worker_queue_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_by TEXT,
    started_at REAL NOT NULL,
    completed_at REAL
);
INSERT INTO "legacy_migrations" VALUES('ba0219ca-76d1-486c-8faa-4d7a89561847','local','f1036c5b-df71-4500-81c9-5b53d5a484b4','migrating','admin',1.79619889897392106051e+09,NULL);
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
INSERT INTO "organizations" VALUES('local','local',1.79619889848466920845e+09);
INSERT INTO "organizations" VALUES('acme','acme',1.79619889920060467718e+09);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    timeout_seconds REAL NOT NULL,
    max_attempts INTEGER NOT NULL,
    submitted_at REAL NOT NULL
);
INSERT INTO "tasks" VALUES('task-fixture-0','local','c614bc7a-a7fc-489a-8ba8-5f880e3df771','sleep',3,60.0,2,1.79619889920095205304e+09);
INSERT INTO "tasks" VALUES('task-fixture-1','local','c614bc7a-a7fc-489a-8ba8-5f880e3df771','sleep',3,60.0,2,1.79619889920099806788e+09);
INSERT INTO "tasks" VALUES('task-fixture-2','local','c614bc7a-a7fc-489a-8ba8-5f880e3df771','sleep',3,60.0,2,1.79619889920102095604e+09);
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
INSERT INTO "worker_queues" VALUES('c614bc7a-a7fc-489a-8ba8-5f880e3df771','local','ba0219ca-76d1-486c-8faa-4d7a89561847','gpu','gpu',NULL,'active',4,60,'["a100"]','{}','local.prod.gpu',3,'{"min_workers":1,"max_workers":4,"target_backlog_age_seconds":20.0,"cooldown_seconds":30}','admin',1.79619889887881350521e+09,1.79619889889619183545e+09,1);
INSERT INTO "worker_queues" VALUES('48434e6c-afa8-4798-9e8c-82dd91472e61','local','ba0219ca-76d1-486c-8faa-4d7a89561847','cpu','cpu','upgrading','maintenance',NULL,30,'[]','{}','local.prod.cpu',NULL,NULL,'admin',1.79619889888146233559e+09,1.79619889888795471188e+09,2);
INSERT INTO "worker_queues" VALUES('12c9cdd1-922e-40de-8892-a433989e38f3','local','a24d9fa3-bc8d-4288-9e90-74552edee6db','default','default',NULL,'active',NULL,60,'[]','{"allow_shell":true}','local.default.default',NULL,NULL,'admin',1.79619889888323283197e+09,1.79619889888323283197e+09,3);
INSERT INTO "worker_queues" VALUES('f1036c5b-df71-4500-81c9-5b53d5a484b4','local','a24d9fa3-bc8d-4288-9e90-74552edee6db','prod-migrated','prod','Migrated from legacy task queue ''prod''','active',NULL,60,'["eu"]','{"region":"eu-west","migrated_from_task_queue":"ba0219ca-76d1-486c-8faa-4d7a89561847"}','local.default.prod-migrated',NULL,NULL,'admin',1.79619889897371101377e+09,1.79619889897371101377e+09,4);
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
INSERT INTO "workers" VALUES('980c6f3b-b791-44e6-adaf-5532af590b84','local','4850466e-e58e-4090-ace2-9f505f326728','c614bc7a-a7fc-489a-8ba8-5f880e3df771','ba0219ca-76d1-486c-8faa-4d7a89561847',NULL,'busy','running',12,0,'t-1','["t-1","t-2"]',2,8,'h1','{"hostname":"h1","pid":4242}','{}','{}',NULL,1.79619889891989111896e+09,1796198898.90902,NULL,NULL,NULL,NULL);
INSERT INTO "workers" VALUES('b6252380-cbbd-4cb2-b3ec-46aba46ffb78','local','8a171f03-f804-4b42-a66c-07fcbe9651ce','c614bc7a-a7fc-489a-8ba8-5f880e3df771','ba0219ca-76d1-486c-8faa-4d7a89561847',NULL,'active','draining',0,0,NULL,'[]',NULL,NULL,NULL,NULL,'{}','{}',NULL,1.79619889891502356534e+09,1.79619889891502356534e+09,NULL,NULL,NULL,NULL);
INSERT INTO "workers" VALUES('7cad9c89-8624-4798-87ae-f3d213fe894a','local','86aae72f-ffd0-497c-9f43-75bdab90eb6c','12c9cdd1-922e-40de-8892-a433989e38f3','a24d9fa3-bc8d-4288-9e90-74552edee6db',NULL,'disconnected','running',0,0,NULL,'[]',0,NULL,NULL,NULL,'{"runtime":"python"}','{}',NULL,1.79619889891724896432e+09,1.79619889891724896432e+09,1.79619889892537117005e+09,'shutdown',0,NULL);
INSERT INTO "workers" VALUES('e9b69f62-2c78-4df3-91cd-8afefc69a698','local','legacy-1',NULL,'a24d9fa3-bc8d-4288-9e90-74552edee6db','local.default','active','running',0,0,NULL,'[]',NULL,NULL,'old-host','{"hostname":"old-host"}','{}','{}',NULL,1.79619889893364310267e+09,1.79619889893364310267e+09,NULL,NULL,NULL,NULL);
CREATE INDEX workers_by_queue ON workers (queue_id, last_heartbeat);
CREATE INDEX tasks_by_queue ON tasks (queue_id, submitted_at);
CREATE INDEX audit_by_org ON audit (organization_id, id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('audit',14);
COMMIT;
