"""E-mail: the mailer (one task, a bounded queue), verified addresses and password-reset
links (`accounts`), and the digests of missed messages (`digest`)."""
