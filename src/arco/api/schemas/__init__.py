"""Request and response bodies of the API, one module per resource (the OpenAPI contract).

Routers import their bodies from here and stay about HTTP: parse, call a service, shape the
answer.  Shapes every resource shares (errors, AcceptedResponse) are in ``arco.api.models``.
"""
