"""Remote signing by officials (CSC API v1/v2, ขมธอ. 36-2566): credentials, SADs, factors."""
