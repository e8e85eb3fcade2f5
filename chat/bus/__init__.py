"""The bus, an adapter: how the instances of one chat tell each other what they committed
(wake-ups, and the committed items themselves: `carrier`, `carried`) and pass events
nobody stores (`interface.route_events`). One interface (`interface.Bus`), three
implementations that do not know each other (`local` for one instance, `postgres`'s
LISTEN/NOTIFY, `redis`), and `opening`, which picks the one the configuration names. The
messages table stays the source of truth: whatever the bus loses is read from it."""
