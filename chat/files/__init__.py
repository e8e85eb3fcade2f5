"""Files shared in messages: where their bytes live (`storage`), and how they are
uploaded, checked, served and collected (the modules beside it)."""
