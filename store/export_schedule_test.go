package store

// Statements that run often, for tests of their plans.
const (
	CompleteJobQueries  = completeJobQueries
	FailJobQueries      = failJobQueries
	ScheduledQueriesSQL = scheduledQueries
)
