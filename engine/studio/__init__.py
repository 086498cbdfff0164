"""The designer studio: drafts of a procedure's files, their validation, scenario tests, diff,
deployment with a note, export, import of other tools' models, and moving running cases."""
