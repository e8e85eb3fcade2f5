"""Fewer reads of the store when many ask at once: identical reads in flight shared
(`single_flight`), and point reads asked together answered by one query
(`batched_point_reads`). Each is a root component with a task of its own (`serve()`
starts them); neither keeps an answer once it is given."""
