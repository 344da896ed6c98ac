"""The REST API over jobs, their escrows and their money: an entry point, above the rails and
beside web/ and ussd/, calling the same services (DESIGN §12)."""
