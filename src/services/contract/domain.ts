import {z} from 'zod'
import {HttpError} from '../shared/http.js'
import {maxAmount, parseInput} from '../shared/input.js'

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine(
    (value) =>
      !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && toDay(new Date(`${value}T00:00:00Z`)) === value,
    {
      message: 'is not a calendar date',
    },
  )

export const contractInput = z.object({
  contractId: z.string().trim().min(1).max(128),
  customerId: z.string().trim().min(1).max(128),
  renewalDate: isoDate,
  amount: z.number().finite().nonnegative().max(maxAmount),
})

export const triggerInput = z.object({days: z.number().int().min(0).max(3660)})
export const renewInput = z.object({newDate: isoDate})

export type Contract = z.infer<typeof contractInput> & {
  createdAt: string
  updatedAt: string
  renewedAt?: string
}

export interface ContractState {
  contracts: Contract[]
}

export function toDay(date: Date): string {
  return date.toISOString().slice(0, 10)
}

/** Creates or updates by contractId; `created` tells which (201 or 200). */
export function upsertContract(
  state: ContractState,
  body: unknown,
  now: Date,
): {item: Contract; created: boolean} {
  const input = parseInput(contractInput, body)
  const at = now.toISOString()
  const existing = state.contracts.find((c) => c.contractId === input.contractId)
  if (existing) {
    Object.assign(existing, input, {updatedAt: at})
    return {item: existing, created: false}
  }
  const item: Contract = {...input, createdAt: at, updatedAt: at}
  state.contracts.push(item)
  return {item, created: true}
}

/** Contracts renewing between today and today + days, both included, soonest first. */
export function dueForReminder(contracts: readonly Contract[], today: string, days: number): Contract[] {
  const until = toDay(new Date(Date.parse(`${today}T00:00:00Z`) + days * 86_400_000))
  return contracts
    .filter((c) => c.renewalDate >= today && c.renewalDate <= until)
    .sort((a, b) => a.renewalDate.localeCompare(b.renewalDate))
}

/** The renewal must move the date forward; answers the contract as it was, for the event. */
export function checkRenewal(state: ContractState, contractId: string, newDate: string): Contract {
  const contract = state.contracts.find((c) => c.contractId === contractId)
  if (!contract) throw new HttpError(404, 'contract_not_found', `no contract ${contractId}`)
  if (newDate <= contract.renewalDate) {
    throw new HttpError(
      409,
      'renewal_not_later',
      `newDate ${newDate} must be after the current renewal date ${contract.renewalDate}`,
    )
  }
  return contract
}

export function renew(state: ContractState, contractId: string, newDate: string, now: Date): Contract {
  const contract = checkRenewal(state, contractId, newDate)
  contract.renewalDate = newDate
  contract.renewedAt = now.toISOString()
  contract.updatedAt = now.toISOString()
  return contract
}

export function asContractState(value: unknown): ContractState | undefined {
  const v = value as Partial<ContractState> | null
  return v && Array.isArray(v.contracts) ? (v as ContractState) : undefined
}
