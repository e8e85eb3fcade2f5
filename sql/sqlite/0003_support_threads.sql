-- Support threads (spec 001): one room of kind 'support' per user, whose creator_id is
-- that user. Operators (users with is_admin) read and write every thread.

CREATE UNIQUE INDEX rooms_one_support_thread_per_user ON rooms (creator_id)
    WHERE kind = 'support';
