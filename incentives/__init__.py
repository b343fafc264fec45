"""Bonus plans indexed on revenue, statements per period."""
