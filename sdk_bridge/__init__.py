"""Wire-format decoders for analytics SDKs (pure Python) and the ingestion API for in-app SDK bridges."""
