"""Encryption in transit on every link: the HTTPS listener (`server`), the clients' trust in
private CAs (`clients`), the report and policy of every link (`links`), and the local CA that
`recstore up --tls` and docker-compose generate (`local_ca`). Imports only the standard library,
`cryptography` and `recstore.settings`/`recstore.errors`."""
