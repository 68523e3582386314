from tests.api.conftest import api, api_key  # noqa: F401 - the partner API client, for provisioning stories
