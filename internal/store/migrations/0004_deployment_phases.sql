-- Phases of a deployment that its client ran before submitting it (plan,
-- build, push), timed on the client's clock, for the deployment timeline.
-- The control plane's own phases are read from the event log.
CREATE TABLE deployment_phases (
    deployment  INTEGER NOT NULL REFERENCES deployments(id),
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    service     TEXT NOT NULL DEFAULT '',
    start       INTEGER NOT NULL,
    end         INTEGER NOT NULL,
    governed_by TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (deployment, seq)
);
