"""The one KPI layer, the team dashboard, the TV kiosk, the funnel audit, attribution."""
