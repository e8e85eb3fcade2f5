"""Files shared in messages, an adapter: where their bytes live (`storage`: a directory or
S3-compatible object storage, opened by `opening`), how an upload is received and checked
(`uploads`, `sniffing`), thumbnails (`thumbnails`, made in a child process,
`thumbnail_worker`, within the bounds of `image_cost`, users taking turns:
`taking_turns`) and the task that removes files nobody needs (`collector`). Who may read
a file is the application's (`chat.app.messages.files`)."""
