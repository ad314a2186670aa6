"""gunicorn's settings for the web, read when gunicorn starts in this folder (`gunicorn project.wsgi --workers 2`).

Four threads a process: an entry call of 10,000 users waits for SQLite's
write lock while the sender holds it, and with threads the process parses,
checks and hashes other calls meanwhile. Workspaces entering at once are
then served side by side rather than in the order they connected (README,
"Cost per user"). Any of these can be given on the command line instead.
"""

threads = 4
