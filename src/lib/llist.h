/* Intrusive doubly linked lists kept with a head and a tail pointer: the
   element type has members prev and next, NULL at the ends. Appending
   and removing are O(1), so an LRU is a hash table plus one of these.
   head and tail are the addresses of the list's two pointers. */
#ifndef COLUMBA_LLIST_H
#define COLUMBA_LLIST_H

/* item goes at the tail */
#define DLLIST2_APPEND(head, tail, item) do { \
	(item)->prev = *(tail); \
	(item)->next = NULL; \
	if (*(tail) != NULL) \
		(*(tail))->next = (item); \
	else \
		*(head) = (item); \
	*(tail) = (item); \
} while (0)

/* item, which is on the list, leaves it; its links are cleared */
#define DLLIST2_REMOVE(head, tail, item) do { \
	if ((item)->prev != NULL) \
		(item)->prev->next = (item)->next; \
	else \
		*(head) = (item)->next; \
	if ((item)->next != NULL) \
		(item)->next->prev = (item)->prev; \
	else \
		*(tail) = (item)->prev; \
	(item)->prev = (item)->next = NULL; \
} while (0)

#endif
