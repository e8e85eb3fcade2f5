-- The addresses each user has logged in from (a client address; an IPv6 client's
-- network), with when they were last used. A login from one of them is the owner's, and
-- is not slowed down while the account is under attack (chat/app/limits/rate_limits.py); every
-- instance reads the same table, and it outlives restarts. The store keeps the newest
-- few per user (chat/store/login_addresses.py); they go with their user.

CREATE TABLE login_addresses (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address  text NOT NULL,
    used_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, address)
);
