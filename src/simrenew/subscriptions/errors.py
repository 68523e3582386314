from simrenew.kit.errors import Conflict


class SubscriptionError(Conflict):
    slug = "subscription-conflict"
    title = "The subscription does not allow this"


class RenewalNotAllowed(SubscriptionError):
    slug = "renewal-not-allowed"
    title = "The subscription cannot be renewed now"


class TopUpNotAllowed(SubscriptionError):
    slug = "top-up-not-allowed"
    title = "Data cannot be added now"


class CancellationNotAllowed(SubscriptionError):
    slug = "cancellation-not-allowed"
    title = "The subscription cannot be cancelled or resumed now"
