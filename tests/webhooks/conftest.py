from tests.notifications.fixtures import _fresh_sms_provider, mail_server, receiver

__all__ = ["_fresh_sms_provider", "mail_server", "receiver"]
