"""What a person is told outside a room's stream: activity in their rooms (`activity`),
notices to all of their connections (`user_notices`), how much they want to hear
(`notification_levels`) and Web Push while they are away (`pusher`,
`push_subscriptions`)."""
