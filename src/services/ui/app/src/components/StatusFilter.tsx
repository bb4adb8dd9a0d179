export interface FilterOption<V extends string> {
  value: V
  label: string
}

/** The row of status buttons (All, Planned, Active, …); the chosen one is pressed. */
export function StatusFilter<V extends string>({
  options,
  value,
  onChange,
  testId,
}: {
  options: ReadonlyArray<FilterOption<V>>
  value: V
  onChange(value: V): void
  testId: string
}) {
  return (
    <div className="row" role="group" aria-label="status" data-testid={testId}>
      {options.map((option) => (
        <button
          key={option.value}
          type="button"
          aria-pressed={option.value === value}
          onClick={() => onChange(option.value)}
        >
          {option.label}
        </button>
      ))}
    </div>
  )
}
