-- Doorstep device store, schema version 7: how far the device trusts the
-- way to its server, decided at enrolment and used by every sync after it.
-- Never edit this file once shipped: add a new numbered migration instead.

-- A county CA (PEM) trusted beside Mozilla's roots, for a server whose
-- certificate no public CA issued. NULL: the roots alone.
ALTER TABLE device ADD COLUMN ca_pem TEXT;

-- 1 when plain http:// to another machine was explicitly allowed at
-- enrolment (a test network); plain http:// to this machine (loopback) is
-- always allowed.
ALTER TABLE device ADD COLUMN allow_insecure_http INTEGER NOT NULL DEFAULT 0
    CHECK (allow_insecure_http IN (0, 1));

-- A device enrolled over plain http:// before this version keeps syncing
-- as it did (its unsynced visits must reach the server); the county moves
-- it to https:// with `doorstep device set-server` / `changeServer`.
UPDATE device SET allow_insecure_http = 1 WHERE server_url LIKE 'http://%';
