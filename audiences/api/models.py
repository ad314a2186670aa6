"""No models: Django sends post_migrate only to apps with a models module, and this app's hook
(apps.ApiConfig) creates the cache table the API's throttle counts in."""
