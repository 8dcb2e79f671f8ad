"""One module per public dataset; each defines ``CONVERTER`` and is registered automatically."""
