"""Request and response bodies of the HTTP contract, one module per resource."""
