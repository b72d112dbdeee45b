"""Notification channels (Feishu, DingTalk, WeCom, Slack, webhook, e-mail), push strategies, delivery log."""
